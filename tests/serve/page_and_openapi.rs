//! The OpenAPI description against what the server answers, and the browser page.

use super::*;

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
    let url = format!("{}/predict?invert=true", server.url);
    let (_, inverted) = post(&url, &pngs[2], "image/png");
    assert_eq!(
        words.next(),
        inverted["top"][0]["class"].as_str(),
        "{shown}"
    );
}
