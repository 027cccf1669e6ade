//! API keys (shown once, hashed, scoped), login/logout with the session cookie, roles, throttling.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::Row;

use super::{Auth, apps};

#[tokio::test]
async fn api_keys_are_shown_once_stored_hashed_and_scoped() {
    for app in apps("keys").await {
        let b = app.backend;
        let k = Auth::Key(&app.admin_key);
        app.bot("a").await;
        app.bot("b").await;
        let r = app
            .req(
                Method::POST,
                "/api/v1/api-keys",
                k,
                Some(json!({"name": "n", "bot_ids": ["a", "nope"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(r.body["error"]["field"], "bot_ids[1]");
        let r = app
            .req(
                Method::POST,
                "/api/v1/api-keys",
                k,
                Some(json!({"name": "dialler", "bot_ids": ["a"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        let key = r.body["key"].as_str().unwrap().to_owned();
        let id = r.body["id"].as_str().unwrap().to_owned();
        assert!(key.starts_with("cxb_"));
        assert_eq!(r.body["bot_ids"], json!(["a"]));
        assert_eq!(r.body["admin"], false);
        assert!(key.starts_with(r.body["prefix"].as_str().unwrap()));
        // Listed without the key.
        let list = app.get("/api/v1/api-keys").await.body;
        let text = list.to_string();
        assert!(!text.contains(&key), "{b}: list leaks the key");
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|x| x["id"] == id.as_str() && x["name"] == "dialler")
        );
        // Stored as SHA-256 only.
        let rows = sqlx::query("SELECT key_hash, prefix FROM api_keys")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
        let hashes: Vec<String> = rows.iter().map(|r| r.try_get("key_hash").unwrap()).collect();
        assert!(hashes.contains(&crate::db::sha256_hex(&key)), "{b}");
        assert!(!hashes.iter().any(|h| h.contains(&key)));
        // Scope: bot a yes, bot b 404 everywhere, no management.
        let s = Auth::Key(&key);
        assert_eq!(
            app.req(Method::GET, "/api/v1/bots/a", s, None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            app.req(Method::GET, "/api/v1/bots/b", s, None).await.status,
            StatusCode::NOT_FOUND
        );
        let bot_b = app.get("/api/v1/bots/b").await.body;
        assert_eq!(
            app.req(Method::PUT, "/api/v1/bots/b", s, Some(bot_b)).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.req(Method::PATCH, "/api/v1/bots/b", s, Some(json!({"active": false})))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        for path in [
            "/api/v1/bots/b/widget",
            "/api/v1/bots/b/integration",
            "/api/v1/bots/b/cache",
        ] {
            assert_eq!(
                app.req(Method::GET, path, s, None).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let list = app.req(Method::GET, "/api/v1/bots", s, None).await.body;
        let ids: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a"]);
        let r = app
            .req(
                Method::POST,
                "/api/v1/api-keys",
                s,
                Some(json!({"name": "x", "bot_ids": ["a"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        for path in [
            "/api/v1/api-keys",
            "/api/v1/users",
            "/api/v1/trunks",
            "/api/v1/settings/providers",
        ] {
            assert_eq!(
                app.req(Method::GET, path, s, None).await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
        let r = app
            .req(Method::POST, "/api/v1/bots", s, Some(json!({"id": "c", "name": "c"})))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.req(Method::DELETE, "/api/v1/bots/a", s, None).await.status,
            StatusCode::FORBIDDEN
        );
        let me = app.req(Method::GET, "/api/v1/me", s, None).await.body;
        assert_eq!(me["kind"], "api_key");
        assert_eq!(me["bot_ids"], json!(["a"]));
        // Deleted keys stop at once.
        let r = app
            .req(Method::DELETE, &format!("/api/v1/api-keys/{id}"), k, None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.req(Method::GET, "/api/v1/bots/a", s, None).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.req(Method::GET, "/api/v1/bots", Auth::Key("cxb_wrong"), None)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        // An admin key made through the API can manage.
        let (_, admin2) = app.key(&[], true).await;
        assert_eq!(
            app.req(Method::GET, "/api/v1/api-keys", Auth::Key(&admin2), None)
                .await
                .status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn login_sets_a_session_cookie_and_roles_are_enforced() {
    for app in apps("login").await {
        let b = app.backend;
        let r = app
            .req(
                Method::POST,
                "/api/v1/auth/login",
                Auth::None,
                Some(json!({"username": "admin", "password": app.admin_password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let set = r.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
        assert!(set.starts_with("cxb_session="), "{set}");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200", "Secure"] {
            assert!(set.contains(attr), "{attr} missing in {set}");
        }
        let token = set
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("cxb_session=")
            .to_owned();
        let stored: Vec<String> = sqlx::query("SELECT token_hash FROM sessions")
            .fetch_all(&app.state.db)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get("token_hash").unwrap())
            .collect();
        assert_eq!(stored, [crate::db::sha256_hex(&token)], "{b}: only the hash is stored");
        let cookie = format!("other=1; cxb_session={token}");
        let c = Auth::Cookie(&cookie);
        let me = app.req(Method::GET, "/api/v1/me", c, None).await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.body["username"], "admin");
        assert_eq!(me.body["role"], "admin");
        // Admin creates a calls-only user and an agent.
        let r = app
            .req(
                Method::POST,
                "/api/v1/users",
                c,
                Some(json!({"username": "carol", "password": "calls-pass-1", "role": "calls_only"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        let r = app
            .req(
                Method::POST,
                "/api/v1/users",
                c,
                Some(json!({"username": "carol", "password": "calls-pass-1", "role": "agent"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        let r = app
            .req(
                Method::POST,
                "/api/v1/users",
                c,
                Some(json!({"username": "ann", "password": "short", "role": "agent"})),
            )
            .await;
        assert_eq!(r.body["error"]["field"], "password");
        let r = app
            .req(
                Method::POST,
                "/api/v1/users",
                c,
                Some(json!({"username": "ann", "password": "long enough", "role": "boss"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        let users = app.req(Method::GET, "/api/v1/users", c, None).await.body;
        assert_eq!(users.as_array().unwrap().len(), 2);
        assert!(!users.to_string().contains("argon2"), "no hashes listed");
        // The calls-only user logs in; no keys, no bots, no users.
        let r = app
            .req(
                Method::POST,
                "/api/v1/auth/login",
                Auth::None,
                Some(json!({"username": "carol", "password": "calls-pass-1"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["can_see_costs"], false);
        let carol = r
            .headers
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let cc = Auth::Cookie(&carol);
        for path in ["/api/v1/api-keys", "/api/v1/users", "/api/v1/bots", "/api/v1/trunks"] {
            assert_eq!(
                app.req(Method::GET, path, cc, None).await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
        // Logout deletes the session.
        let r = app.req(Method::POST, "/api/v1/auth/logout", c, None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(
            r.headers
                .get("set-cookie")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        assert_eq!(
            app.req(Method::GET, "/api/v1/me", c, None).await.status,
            StatusCode::UNAUTHORIZED
        );
        // Expired sessions are refused.
        sqlx::query("UPDATE sessions SET expires_at_ms = 1")
            .execute(&app.state.db)
            .await
            .unwrap();
        assert_eq!(
            app.req(Method::GET, "/api/v1/me", cc, None).await.status,
            StatusCode::UNAUTHORIZED
        );
        // Wrong passwords: 401, then 429 after ten.
        for i in 0..10 {
            let r = app
                .req(
                    Method::POST,
                    "/api/v1/auth/login",
                    Auth::None,
                    Some(json!({"username": "admin", "password": format!("bad{i}")})),
                )
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{b} attempt {i}");
        }
        let r = app
            .req(
                Method::POST,
                "/api/v1/auth/login",
                Auth::None,
                Some(json!({"username": "admin", "password": app.admin_password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{b}");
        let r = app
            .req(
                Method::POST,
                "/api/v1/auth/login",
                Auth::None,
                Some(json!({"username": "nobody", "password": "x"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
}
