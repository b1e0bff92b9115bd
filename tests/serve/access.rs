//! Who may connect and for how long: a token beyond loopback, idle and half-sent
//! connections, the idle timeout.

use super::*;

/// Status and WWW-Authenticate header of a request with an optional bearer token.
fn with_token(req: ureq::Request, token: Option<&str>, body: Option<&[u8]>) -> (u16, String) {
    let req = match token {
        Some(t) => req.set("Authorization", &format!("Bearer {t}")),
        None => req,
    };
    let r = match body {
        Some(b) => req.set("Content-Type", "image/png").send_bytes(b),
        None => req.call(),
    };
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let challenge = resp.header("WWW-Authenticate").unwrap_or("").to_string();
    (resp.status(), challenge)
}

#[test]
fn a_server_beyond_loopback_needs_a_token_and_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let pngs = model(dir.path());
    let refused = |extra: &[&str]| {
        let mut args = vec!["serve", "--checkpoint", "model.ckpt", "--port", "0"];
        args.extend(extra);
        convlab(&args, dir.path())
    };
    // Every interface and no token: refused before listening.
    let out = refused(&["--host", "0.0.0.0"]);
    assert_bad_input(&out, &["--host", "0.0.0.0", "token"]);
    let out = refused(&["--token", ""]);
    assert_bad_input(&out, &["--token", "empty"]);
    // 0 was read as 1 (a top-k of 0 answered one class, as predict -k 0 refuses).
    for flag in ["--top-k", "--max-batch", "--max-connections", "--max-bytes"] {
        let out = refused(&[flag, "0"]);
        assert_bad_input(&out, &[&format!("{flag}: must be at least 1")]);
    }

    for (flag, env) in [
        (vec!["--host", "0.0.0.0", "--token", "s3cret-token"], vec![]),
        (
            vec!["--host", "0.0.0.0"],
            vec![("CONVLAB_TOKEN", "s3cret-token")],
        ),
    ] {
        let server = start_with_env(dir.path(), &flag, &env);
        let model_url = format!("{}/model", server.url);
        let predict_url = format!("{}/predict", server.url);
        let get = || ureq::get(&model_url);
        assert_eq!(with_token(get(), None, None), (401, "Bearer".into()));
        assert_eq!(with_token(get(), Some("s3cret-tokeN"), None).0, 401);
        assert_eq!(with_token(get(), Some("s3cret"), None).0, 401);
        assert_eq!(with_token(get(), Some("s3cret-token"), None).0, 200);
        let post = || ureq::post(&predict_url);
        assert_eq!(with_token(post(), None, Some(&pngs[0])).0, 401);
        assert_eq!(
            with_token(post(), Some("s3cret-token"), Some(&pngs[0])).0,
            200
        );
        // Probes need no token, and learn nothing about the model.
        assert_eq!(get_status(&format!("{}/health", server.url)), 200);
    }
}

fn get_status(url: &str) -> u16 {
    match ureq::get(url).call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn idle_and_half_sent_connections_do_not_starve_a_normal_request() {
    use std::io::Write;
    use std::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let pngs = model(dir.path());
    let server = start(dir.path(), &[]);
    let addr = server.url.trim_start_matches("http://").to_string();
    // 400 connections that say nothing, 100 that stop halfway through their headers.
    let mut held = Vec::new();
    for i in 0..500 {
        let mut c = TcpStream::connect(&addr).unwrap();
        if i % 5 == 0 {
            c.write_all(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Le")
                .unwrap();
        }
        held.push(c);
    }
    let started = std::time::Instant::now();
    let (status, body) = post(&format!("{}/predict", server.url), &pngs[1], "image/png");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(status, 200, "{body}");
    assert!(
        seconds < 1.0,
        "answered in {seconds:.2}s with 500 idle connections open"
    );
    assert_eq!(held.len(), 500);
}

#[test]
fn connections_silent_past_the_idle_timeout_are_closed_and_free_their_slot() {
    use std::io::Write;
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let pngs = model(dir.path());
    let server = start(
        dir.path(),
        &["--max-connections", "4", "--idle-timeout-s", "1"],
    );
    let addr = server.url.trim_start_matches("http://").to_string();
    // Every slot taken: two silent clients, two that stop inside their headers.
    let mut held: Vec<TcpStream> = (0..4)
        .map(|i| {
            let mut c = TcpStream::connect(&addr).unwrap();
            if i % 2 == 1 {
                c.write_all(b"GET /health HTTP/1.1\r\nHo").unwrap();
            }
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // A fifth client waits for a slot, which the idle timeout frees after about a second.
    let started = Instant::now();
    let (status, _) = post(&format!("{}/predict", server.url), &pngs[2], "image/png");
    assert_eq!(status, 200);
    let waited = started.elapsed();
    assert!(waited > Duration::from_millis(500), "no wait: {waited:?}");
    for (i, c) in held.iter_mut().enumerate() {
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) | Err(_) if started.elapsed() < Duration::from_secs(5) => {}
            other => panic!("connection {i} still open after the idle timeout: {other:?}"),
        }
    }
}
