//! Ingest, list, detail, raw JSON and recording playback through the real router.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::tests::{Auth, Res, TestApp, apps};
use crate::calls::tests::sample;

async fn post_record(app: &TestApp, bearer: Option<&str>, body: &str) -> Res {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut b = axum::http::Request::post("/internal/v1/calls").header("content-type", "application/json");
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .router
        .clone()
        .oneshot(b.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Res {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn ingest(app: &TestApp, id: &str, bot: &str) {
    let r = sample(id, bot, "2026-11-20T10:00:00Z");
    let res = post_record(app, Some("internal-secret"), &serde_json::to_string(&r).unwrap()).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}: {}", app.backend, res.body);
}

#[tokio::test]
async fn ingest_needs_the_secret_and_is_idempotent() {
    for app in apps("ingestapi").await {
        let body = serde_json::to_string(&sample("i1", "bot-a", "2026-11-20T10:00:00Z")).unwrap();
        assert_eq!(post_record(&app, None, &body).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            post_record(&app, Some("wrong"), &body).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            post_record(&app, Some(&app.admin_key), &body).await.status,
            StatusCode::UNAUTHORIZED
        );
        let bad = post_record(&app, Some("internal-secret"), "{\"session_id\": 5}").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.body["error"]["field"], "body");
        let first = post_record(&app, Some("internal-secret"), &body).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}: {}", app.backend, first.body);
        let again = post_record(&app, Some("internal-secret"), &body).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", app.backend);
        // The post-call job was queued once.
        let jobs: i64 = sqlx::Row::try_get(
            &sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE call_id = $1")
                .bind("i1")
                .fetch_one(&app.state.db)
                .await
                .unwrap(),
            "n",
        )
        .unwrap();
        assert_eq!(jobs, 1, "{}", app.backend);
        let snap = app.req(Method::GET, "/internal/v1/snapshot", Auth::None, None).await;
        assert_eq!(snap.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn snapshot_serves_bots_to_the_dataplane() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    for app in apps("snapshot").await {
        app.bot("snap-bot").await;
        let req = axum::http::Request::get("/internal/v1/snapshot")
            .header("authorization", "Bearer internal-secret")
            .body(Body::empty())
            .unwrap();
        let res = app.router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(v["bots"][0]["id"], "snap-bot", "{}", app.backend);
    }
}

#[tokio::test]
async fn list_detail_json_are_scoped() {
    for app in apps("callsapi").await {
        app.bot("bot-a").await;
        app.bot("bot-b").await;
        ingest(&app, "a1", "bot-a").await;
        ingest(&app, "b1", "bot-b").await;
        let (_, key_a) = app.key(&["bot-a"], false).await;

        let all = app.get("/api/v1/calls").await;
        assert_eq!(all.status, StatusCode::OK, "{}", app.backend);
        assert_eq!(all.body["total"], 2);
        let mine = app.req(Method::GET, "/api/v1/calls", Auth::Key(&key_a), None).await;
        assert_eq!(mine.body["total"], 1, "{}", app.backend);
        assert_eq!(mine.body["items"][0]["session_id"], "a1");
        let other = app
            .req(Method::GET, "/api/v1/calls?bot_id=bot-b", Auth::Key(&key_a), None)
            .await;
        assert_eq!(other.body["total"], 0);
        let bad = app.get("/api/v1/calls?page_size=500").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.body["error"]["field"], "page_size");
        assert_eq!(
            app.req(Method::GET, "/api/v1/calls", Auth::None, None).await.status,
            StatusCode::UNAUTHORIZED
        );

        let d = app.req(Method::GET, "/api/v1/calls/a1", Auth::Key(&key_a), None).await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.body["summary"]["bot_id"], "bot-a");
        assert_eq!(d.body["tokens"]["prompt_tokens"], 250);
        assert!(d.body["timeline"].as_array().unwrap().len() >= 5);
        assert_eq!(d.body["summary"]["recording"], "/api/v1/calls/a1/recording");
        let hidden = app.req(Method::GET, "/api/v1/calls/b1", Auth::Key(&key_a), None).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/calls/none").await.status, StatusCode::NOT_FOUND);

        let raw = app
            .req(Method::GET, "/api/v1/calls/a1/json", Auth::Key(&key_a), None)
            .await;
        assert_eq!(raw.status, StatusCode::FORBIDDEN, "non-admin key");
        let raw = app.get("/api/v1/calls/a1/json").await;
        assert_eq!(raw.status, StatusCode::OK);
        assert_eq!(raw.body["session_id"], "a1");
        assert_eq!(raw.body["disconnected_by"], "customer");
    }
}

#[tokio::test]
async fn calls_only_users_see_no_tokens_or_raw_json() {
    for app in apps("callsonly").await {
        ingest(&app, "c1", "bot-a").await;
        let r = app
            .req(
                Method::POST,
                "/api/v1/users",
                Auth::Key(&app.admin_key),
                Some(json!({"username": "viewer", "password": "viewer-password-1", "role": "calls_only"})),
            )
            .await;
        assert!(r.status.is_success(), "{}: {}", app.backend, r.body);
        let login = app
            .req(
                Method::POST,
                "/api/v1/auth/login",
                Auth::None,
                Some(json!({"username": "viewer", "password": "viewer-password-1"})),
            )
            .await;
        assert!(login.status.is_success(), "{}", login.body);
        let cookie = login.headers["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let d = app
            .req(Method::GET, "/api/v1/calls/c1", Auth::Cookie(&cookie), None)
            .await;
        assert_eq!(d.status, StatusCode::OK, "{}", app.backend);
        assert!(d.body.get("tokens").is_none());
        assert!(!d.body.to_string().contains("prompt_tokens"));
        let raw = app
            .req(Method::GET, "/api/v1/calls/c1/json", Auth::Cookie(&cookie), None)
            .await;
        assert_eq!(raw.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn recording_redirects_to_a_signed_url_that_streams_the_wav() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    for app in apps("recording").await {
        ingest(&app, "r1", "bot-a").await;
        let mut no_rec = sample("r2", "bot-a", "2026-11-20T10:00:00Z");
        no_rec.recording_key = None;
        let res = post_record(&app, Some("internal-secret"), &serde_json::to_string(&no_rec).unwrap()).await;
        assert_eq!(res.status, StatusCode::CREATED);
        let dir = std::path::Path::new(&app.state.cfg.recordings).join("2026/11/21");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("r1.wav"), b"RIFF-fake-wav").unwrap();

        let r = app.get("/api/v1/calls/r1/recording").await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", app.backend);
        let loc = r.headers["location"].to_str().unwrap().to_owned();
        assert!(loc.starts_with("/api/v1/recordings/2026/11/21/r1?exp="), "{loc}");
        let res = app
            .router
            .clone()
            .oneshot(axum::http::Request::get(&loc).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "audio/wav");
        assert_eq!(
            &res.into_body().collect().await.unwrap().to_bytes()[..],
            b"RIFF-fake-wav"
        );

        let tampered = loc.replace("/r1?", "/r2?");
        let t = app.req(Method::GET, &tampered, Auth::None, None).await;
        assert_eq!(t.status, StatusCode::FORBIDDEN);
        let unsigned = app
            .req(Method::GET, "/api/v1/recordings/2026/11/21/r1", Auth::None, None)
            .await;
        assert_eq!(unsigned.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.get("/api/v1/calls/r2/recording").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.req(Method::GET, "/api/v1/calls/r1/recording", Auth::None, None)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
}
