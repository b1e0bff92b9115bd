//! convlab serve as a client sees it: /health, /model, /predict with raw bytes and with a
//! multipart form, 400 for a non-image, 413 for an oversize upload, concurrent requests
//! batched together, and the server still answering afterwards.

#[path = "../common/mod.rs"]
mod common;

use std::io::Read;
use std::process::Command;
use std::sync::{Arc, Barrier};

use common::*;

mod access;
mod page_and_openapi;

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

    // ?invert=true reads a negative as the original; a white page (mean 1.0 against the
    // training images' ~0.29) is flagged as a negative; invert=maybe is a 400 naming it.
    let negative = |png: &[u8]| {
        let mut img = image::load_from_memory(png).unwrap();
        img.invert();
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    let (_, plain) = post(&format!("{url}/predict"), &images[2], "image/png");
    let (status, back) = post(
        &format!("{url}/predict?invert=true"),
        &negative(&images[2]),
        "image/png",
    );
    assert_eq!((status, &back["top"]), (200, &plain["top"]), "{back}");
    assert_eq!(
        (&plain["looks_inverted"], &back["looks_inverted"]),
        (&false.into(), &false.into())
    );
    let mut page = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(28, 28, image::Luma([255])))
        .write_to(
            &mut std::io::Cursor::new(&mut page),
            image::ImageFormat::Png,
        )
        .unwrap();
    let (_, white) = post(&format!("{url}/predict"), &page, "image/png");
    assert_eq!(white["looks_inverted"], true, "{white}");
    let (status, v) = post(
        &format!("{url}/predict?invert=maybe"),
        &images[0],
        "image/png",
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"], "invert: \"maybe\" is not true, false, 1 or 0");

    // Multipart, as a browser form or `curl -F file=@x.png` sends it: (name, file name,
    // bytes) of each field.
    let boundary = "convlabtestboundary";
    let form = |fields: &[(&str, Option<&str>, &[u8])]| {
        let mut form = Vec::new();
        for (name, file, bytes) in fields {
            let file = file.map_or(String::new(), |f| format!("; filename=\"{f}\""));
            form.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
                )
                .as_bytes(),
            );
            form.extend(*bytes);
            form.extend(b"\r\n");
        }
        form.extend(format!("--{boundary}--\r\n").as_bytes());
        let kind = format!("multipart/form-data; boundary={boundary}");
        post(&format!("{url}/predict"), &form, &kind)
    };
    let (status, v) = form(&[("file", Some("x.png"), &images[1])]);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["top"].as_array().unwrap().len(), 3, "default k");
    // A text field before the file is not the image (it was taken as one: 400).
    let (status, w) = form(&[("k", None, b"2"), ("file", Some("x.png"), &images[1])]);
    assert_eq!((status, &w["top"]), (200, &v["top"]), "{w}");
    // Two files: refused, where only the first was answered.
    let two = [
        ("a", Some("a.png"), &images[0][..]),
        ("b", Some("b.png"), &images[1]),
    ];
    let (status, v) = form(&two);
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["error"],
        "the form has 2 files: send one image per request"
    );

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
            .contains("not a readable image: PNG, JPEG,"),
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
