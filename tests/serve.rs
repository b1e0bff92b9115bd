//! convlab serve as a client sees it: /health, /model, /predict with raw bytes and with a
//! multipart form, 400 for a non-image, 413 for an oversize upload, concurrent requests
//! batched together, and the server still answering afterwards.

mod common;

use std::io::Read;
use std::process::Command;
use std::sync::{Arc, Barrier};

use common::*;

fn start(dir: &std::path::Path, extra: &[&str]) -> Server {
    start_with_env(dir, extra, &[])
}

fn start_with_env(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut args = vec!["--checkpoint", "model.ckpt"];
    args.extend_from_slice(extra);
    serve(&args, dir, env)
}

/// Train a tiny 4-class model and return the PNG bytes of one image per class.
fn model(dir: &std::path::Path) -> Vec<Vec<u8>> {
    write_idx_dataset(&dir.join("mnist"), 400, 100, 4);
    std::fs::write(
        dir.join("tiny.toml"),
        "[data]\ndataset = \"mnist\"\n[model]\npreset = \"\"\nlayers = [{ type = \"conv\", out = 4, kernel = 5, stride = 2 }, { type = \"activation\", kind = \"relu\" }, { type = \"flatten\" }, { type = \"linear\", out = 10 }]\n[optimizer]\nlr = 3e-3\n[train]\nepochs = 3\nbatch_size = 32\n",
    )
    .unwrap();
    let out = convlab(
        &[
            "train",
            "tiny.toml",
            "--data-dir",
            dir.to_str().unwrap(),
            "--run-dir",
            "run",
            "--quiet",
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::copy(dir.join("run/best.ckpt"), dir.join("model.ckpt")).unwrap();
    (0..4u8)
        .map(|label| {
            let px = pattern(label, 4, 28, 7_000_000 + label as usize);
            let mut png = Vec::new();
            image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(28, 28, px).unwrap())
                .resize_exact(64, 64, image::imageops::FilterType::Nearest)
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .unwrap();
            png
        })
        .collect()
}

fn get(url: &str) -> serde_json::Value {
    let body = ureq::get(url).call().unwrap().into_string().unwrap();
    serde_json::from_str(&body).unwrap()
}

fn post(url: &str, body: &[u8], content_type: &str) -> (u16, serde_json::Value) {
    let r = ureq::post(url)
        .set("Content-Type", content_type)
        .send_bytes(body);
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = resp.status();
    (
        status,
        serde_json::from_str(&resp.into_string().unwrap()).unwrap(),
    )
}

#[test]
fn serve_predicts_rejects_bad_uploads_and_batches_concurrent_requests() {
    let dir = tempfile::tempdir().unwrap();
    let images = model(dir.path());
    let server = start(dir.path(), &["--max-bytes", "20000", "--max-wait-ms", "50"]);
    let url = &server.url;

    let health: serde_json::Value = get(&format!("{url}/health"));
    assert_eq!(health["status"], "ok");
    let m: serde_json::Value = get(&format!("{url}/model"));
    assert_eq!(m["input"], serde_json::json!([1, 28, 28]));
    assert_eq!(m["classes"].as_array().unwrap().len(), 10);
    // conv 1->4 5x5 (100 + 4), fc 4*12*12 -> 10 (5760 + 10), as PyTorch counts them.
    assert_eq!(m["parameters"], 104 + 5770);

    // Raw bytes: the class of each pattern image, top-2.
    let mut right = 0;
    for (label, png) in images.iter().enumerate() {
        let (status, v) = post(&format!("{url}/predict?k=2"), png, "image/png");
        assert_eq!(status, 200, "{v}");
        let top = v["top"].as_array().unwrap();
        assert_eq!(top.len(), 2);
        right += usize::from(top[0]["class"].as_str() == Some(label.to_string().as_str()));
    }
    assert!(right >= 3, "{right}/4");

    // Multipart, as a browser form or `curl -F file=@x.png` sends it.
    let boundary = "convlabtestboundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    form.extend(&images[1]);
    form.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (status, v) = post(
        &format!("{url}/predict"),
        &form,
        &format!("multipart/form-data; boundary={boundary}"),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["top"].as_array().unwrap().len(), 3, "default k");

    // Not an image: 400 naming the problem. Too big: 413. Empty: 400.
    let (status, v) = post(
        &format!("{url}/predict"),
        b"hello, not an image",
        "image/png",
    );
    assert_eq!(status, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not a readable PNG/JPEG image"),
        "{v}"
    );
    let (status, v) = post(&format!("{url}/predict"), &vec![0u8; 50_000], "image/png");
    assert_eq!(status, 413, "{v}");
    let (status, _) = post(&format!("{url}/predict"), b"", "image/png");
    assert_eq!(status, 400);

    // 24 clients at once: every answer right for its image, and batched together.
    let before: serde_json::Value = get(&format!("{url}/health"));
    let gate = Arc::new(Barrier::new(24));
    let handles: Vec<_> = (0..24)
        .map(|i| {
            let (gate, url, png) = (gate.clone(), url.clone(), images[i % 4].clone());
            std::thread::spawn(move || {
                gate.wait();
                let (status, v) = post(&format!("{url}/predict?k=1"), &png, "image/png");
                (
                    i % 4,
                    status,
                    v["top"][0]["class"].as_str().unwrap_or("").to_string(),
                )
            })
        })
        .collect();
    let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(answers.iter().all(|(_, s, _)| *s == 200));
    let single: Vec<String> = images
        .iter()
        .map(|png| {
            post(&format!("{url}/predict?k=1"), png, "image/png").1["top"][0]["class"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for (label, _, class) in &answers {
        assert_eq!(class, &single[*label], "batched answers equal single ones");
    }
    let after: serde_json::Value = get(&format!("{url}/health"));
    let requests = after["requests"].as_u64().unwrap() - before["requests"].as_u64().unwrap();
    let batches = after["batches"].as_u64().unwrap() - before["batches"].as_u64().unwrap();
    assert_eq!(requests, 28);
    assert!(
        batches < requests,
        "{batches} batches for {requests} requests: nothing was batched"
    );
    assert!(after["largest_batch"].as_u64().unwrap() > 1);
}

#[test]
fn serve_refuses_a_corrupt_checkpoint_and_a_taken_port() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("model.ckpt"),
        b"CONVLABCKPT1 but nothing else",
    )
    .unwrap();
    let out = convlab(
        &["serve", "--checkpoint", "model.ckpt", "--port", "0"],
        dir.path(),
    );
    assert_bad_input(&out, &["model.ckpt", "not a convlab checkpoint"]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    model(dir.path());
    let out = convlab(
        &["serve", "--checkpoint", "model.ckpt", "--port", &port],
        dir.path(),
    );
    assert_bad_input(&out, &[&format!("127.0.0.1:{port}"), "cannot listen"]);
}

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

#[test]
fn the_openapi_description_matches_what_the_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    let pngs = model(dir.path());
    let server = start(dir.path(), &[]);
    let doc = get(&format!("{}/openapi.json", server.url));
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        ["/", "/health", "/model", "/openapi.json", "/predict"]
    );
    let predict = &doc["paths"]["/predict"]["post"];
    assert_eq!(predict["parameters"][0]["in"], "query");
    for status in ["200", "400", "401", "413"] {
        assert!(predict["responses"][status].is_object(), "{status}");
    }
    // Every field the schema requires is in the real answers, and nothing else.
    let schemas = &doc["components"]["schemas"];
    let (status, answer) = post(&format!("{}/predict", server.url), &pngs[3], "image/png");
    assert_eq!(status, 200);
    let health = get(&format!("{}/health", server.url));
    let model = get(&format!("{}/model", server.url));
    let (_, bad) = post(
        &format!("{}/predict", server.url),
        b"not an image",
        "image/png",
    );
    for k in ["0", "", "x", "-1"] {
        let url = format!("{}/predict?k={k}", server.url);
        let (status, v) = post(&url, &pngs[3], "image/png");
        assert_eq!(status, 400, "k={k}: {v}");
        assert!(v["error"].as_str().unwrap().starts_with("k: "), "{v}");
    }
    for (name, value) in [
        ("Prediction", &answer),
        ("Health", &health),
        ("ModelInfo", &model),
        ("ApiError", &bad),
    ] {
        let mut required: Vec<&str> = schemas[name]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut present: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        required.sort();
        present.sort();
        assert_eq!(required, present, "{name}");
    }
}

/// Python with Playwright and a Chromium, or why this machine cannot drive the page.
fn browser() -> Result<String, String> {
    let chromium = std::env::var("CONVLAB_CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return Err(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    let probe = Command::new("python3")
        .args(["-c", "import playwright"])
        .output();
    match probe {
        Ok(o) if o.status.success() => Ok(chromium),
        _ => Err("python3 cannot import playwright (pip install playwright)".into()),
    }
}

#[test]
fn the_page_shows_the_top_class_of_a_dropped_image() {
    let dir = tempfile::tempdir().unwrap();
    let pngs = model(dir.path());
    let server = start(dir.path(), &["--token", "page-token"]);
    // The page itself is open, and says what it is.
    let page = ureq::get(&format!("{}/", server.url)).call().unwrap();
    assert_eq!(page.content_type(), "text/html");
    let html = page.into_string().unwrap();
    assert!(
        html.contains("id=\"drop\"") && !html.contains("http"),
        "no external assets"
    );
    // Headless Chromium: only where it and Playwright are installed (not in CI).
    let chromium = match browser() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("browser part skipped: {why}");
            return;
        }
    };
    let server = start(dir.path(), &[]);
    std::fs::write(dir.path().join("dropped.png"), &pngs[2]).unwrap();
    let (_, answer) = post(&format!("{}/predict", server.url), &pngs[2], "image/png");
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/drop_image.py"
        ))
        .arg(format!("{}/", server.url))
        .arg(dir.path().join("dropped.png"))
        .env("CONVLAB_CHROMIUM", chromium)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    let mut words = shown.split_whitespace();
    assert_eq!(words.next(), answer["top"][0]["class"].as_str(), "{shown}");
    assert_eq!(
        words.next(),
        Some("5"),
        "the page asks for the top 5: {shown}"
    );
}
