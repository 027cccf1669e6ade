//! Bots CRUD, validation (field + wizard step), clone, campaign lock, secrets masking, DIDs,
//! widget and integration tab.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{Auth, apps};

#[tokio::test]
async fn bots_crud_validation_and_clone() {
    for app in apps("botscrud").await {
        let b = app.backend;
        let k = Auth::Key(&app.admin_key);
        let created = app.bot("sales").await;
        assert_eq!(created["id"], "sales");
        assert_eq!(created["language"], "en-US", "defaults filled");
        // Generated id when absent.
        let r = app
            .req(Method::POST, "/api/v1/bots", k, Some(json!({"name": "No id"})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        assert!(r.body["id"].as_str().unwrap().starts_with("bot-"));
        // Duplicate id.
        let r = app
            .req(
                Method::POST,
                "/api/v1/bots",
                k,
                Some(json!({"id": "sales", "name": "x"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}");
        // Validation: field and step.
        let cases = [
            (
                json!({"id": "v1", "name": "x", "language": "en US!"}),
                "language",
                "identity",
            ),
            (json!({"id": "v2", "name": " "}), "name", "identity"),
            (
                json!({"id": "v3", "name": "x", "pipeline": {"stt": {"provider": "anthropic"}}}),
                "pipeline.stt.provider",
                "voice",
            ),
            (
                json!({"id": "v4", "name": "x", "max_call_seconds": 0}),
                "max_call_seconds",
                "behavior",
            ),
            (
                json!({"id": "v5", "name": "x", "tools": [{"name": "t", "url": "ftp://x"}]}),
                "tools[0].url",
                "tools",
            ),
            (
                json!({"id": "v6", "name": "x", "crm_push": {"url": "nope"}}),
                "crm_push.url",
                "integrations",
            ),
            (
                json!({"id": "v7", "name": "x", "policy": [{"name": ""}]}),
                "policy[0].name",
                "prompt",
            ),
            (json!({"name": "x", "id": "bad id"}), "id", "identity"),
            (json!({"id": "v8"}), "name", "identity"),
        ];
        for (body, field, step) in cases {
            let r = app.req(Method::POST, "/api/v1/bots", k, Some(body.clone())).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {body}");
            assert_eq!(r.body["error"]["code"], "unprocessable");
            assert_eq!(r.body["error"]["field"], field, "{b}: {}", r.body);
            assert_eq!(r.body["error"]["step"], step, "{b}: {}", r.body);
        }
        // Read, replace, patch.
        let mut bot = app.get("/api/v1/bots/sales").await.body;
        bot["system_prompt"] = json!("Sell things.");
        let r = app.req(Method::PUT, "/api/v1/bots/sales", k, Some(bot.clone())).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["system_prompt"], "Sell things.");
        bot["id"] = json!("other");
        let r = app.req(Method::PUT, "/api/v1/bots/sales", k, Some(bot)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(r.body["error"]["field"], "id");
        let r = app
            .req(Method::PATCH, "/api/v1/bots/sales", k, Some(json!({"active": false})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["active"], false);
        assert_eq!(r.body["system_prompt"], "Sell things.", "patch keeps the rest");
        let list = app.get("/api/v1/bots").await.body;
        let sales = list.as_array().unwrap().iter().find(|x| x["id"] == "sales").unwrap();
        assert_eq!(sales["active"], false);
        // Clone: new id, "Copy of", same settings, no DIDs.
        let r = app
            .req(
                Method::POST,
                "/api/v1/dids",
                k,
                Some(json!({"number": "+1 555 010 0000", "bot_id": "sales"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        let r = app.req(Method::POST, "/api/v1/bots/sales/clone", k, None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        let copy_id = r.body["id"].as_str().unwrap().to_owned();
        assert_ne!(copy_id, "sales");
        assert_eq!(r.body["name"], "Copy of Bot sales");
        assert_eq!(r.body["system_prompt"], "Sell things.");
        let list = app.get("/api/v1/bots").await.body;
        let copy = list
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == copy_id.as_str())
            .unwrap();
        assert_eq!(copy["dids"], json!([]));
        let r = app
            .req(
                Method::POST,
                "/api/v1/bots/sales/clone",
                k,
                Some(json!({"id": "sales2", "name": "Two"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}");
        assert_eq!(r.body["name"], "Two");
        // Delete removes its DIDs.
        let r = app.req(Method::DELETE, "/api/v1/bots/sales", k, None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{b}");
        assert_eq!(app.get("/api/v1/bots/sales").await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/dids").await.body, json!([]));
        let r = app.req(Method::DELETE, "/api/v1/bots/sales", k, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn running_campaign_locks_edit_and_delete() {
    for app in apps("botslock").await {
        let k = Auth::Key(&app.admin_key);
        app.bot("locked").await;
        for (id, status) in [("c1", "running"), ("c2", "paused"), ("c3", "running")] {
            sqlx::query("INSERT INTO campaigns (id, bot_id, name, status, created_at_ms) VALUES ($1, $2, $3, $4, 0)")
                .bind(id)
                .bind("locked")
                .bind(format!("Campaign {id}"))
                .bind(status)
                .execute(&app.state.db)
                .await
                .unwrap();
        }
        let bot = app.get("/api/v1/bots/locked").await.body;
        let r = app.req(Method::PUT, "/api/v1/bots/locked", k, Some(bot)).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", app.backend);
        assert_eq!(r.body["error"]["code"], "conflict");
        assert_eq!(
            r.body["error"]["details"]["campaigns"],
            json!([{"id": "c1", "name": "Campaign c1"}, {"id": "c3", "name": "Campaign c3"}])
        );
        let r = app.req(Method::DELETE, "/api/v1/bots/locked", k, None).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        let r = app
            .req(Method::PATCH, "/api/v1/bots/locked", k, Some(json!({"name": "n"})))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        // Pausing the bot itself stays possible.
        let r = app
            .req(Method::PATCH, "/api/v1/bots/locked", k, Some(json!({"active": false})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        sqlx::query("UPDATE campaigns SET status = 'done'")
            .execute(&app.state.db)
            .await
            .unwrap();
        let r = app.req(Method::DELETE, "/api/v1/bots/locked", k, None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn secrets_in_bots_are_masked_for_scoped_keys_and_kept_on_put() {
    for app in apps("botsecrets").await {
        let k = Auth::Key(&app.admin_key);
        let body = json!({
            "id": "sec", "name": "Sec",
            "tools": [{"name": "lookup", "url": "https://crm.example.com/x", "auth_header": "Bearer tool-secret-1234"}],
            "crm_push": {"url": "https://crm.example.com/push", "token": "crm-token-abcd"}
        });
        let r = app.req(Method::POST, "/api/v1/bots", k, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let (_, scoped) = app.key(&["sec"], false).await;
        let s = Auth::Key(&scoped);
        let r = app.req(Method::GET, "/api/v1/bots/sec", s, None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["tools"][0]["auth_header"], "****1234");
        assert_eq!(r.body["crm_push"]["token"], "****abcd");
        // Put back what was read (masked): the stored secrets stay.
        let mut bot = r.body.clone();
        bot["opening_message"] = json!("Hi");
        let r = app.req(Method::PUT, "/api/v1/bots/sec", s, Some(bot)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let full = app.get("/api/v1/bots/sec").await.body;
        assert_eq!(full["tools"][0]["auth_header"], "Bearer tool-secret-1234");
        assert_eq!(full["crm_push"]["token"], "crm-token-abcd");
        assert_eq!(full["opening_message"], "Hi");
    }
}

#[tokio::test]
async fn dids_are_normalised_unique_and_scoped() {
    for app in apps("dids").await {
        let k = Auth::Key(&app.admin_key);
        app.bot("a").await;
        app.bot("b").await;
        let r = app
            .req(
                Method::POST,
                "/api/v1/dids",
                k,
                Some(json!({"number": "+49 (30) 123-456", "bot_id": "a"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["number"], "+4930123456");
        let r = app
            .req(
                Method::POST,
                "/api/v1/dids",
                k,
                Some(json!({"number": "4930123456", "bot_id": "b"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "same digits without +");
        let r = app
            .req(
                Method::POST,
                "/api/v1/dids",
                k,
                Some(json!({"number": "12", "bot_id": "a"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["error"]["field"], "number");
        let r = app
            .req(
                Method::POST,
                "/api/v1/dids",
                k,
                Some(json!({"number": "+15550100", "bot_id": "zz"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = app
            .req(
                Method::POST,
                "/api/v1/dids",
                k,
                Some(json!({"number": "+15550100", "bot_id": "b"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let (_, scoped) = app.key(&["a"], false).await;
        let list = app
            .req(Method::GET, "/api/v1/dids", Auth::Key(&scoped), None)
            .await
            .body;
        assert_eq!(list, json!([{"number": "+4930123456", "bot_id": "a"}]));
        let r = app
            .req(Method::DELETE, "/api/v1/dids/15550100", Auth::Key(&scoped), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "other bot's number is invisible");
        let r = app
            .req(Method::DELETE, "/api/v1/dids/4930123456", Auth::Key(&scoped), None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get("/api/v1/dids").await.body.as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn widget_regenerate_invalidates_the_old_key() {
    for app in apps("widget").await {
        let k = Auth::Key(&app.admin_key);
        app.bot("w").await;
        let r = app.get("/api/v1/bots/w/widget").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["enabled"], false);
        assert!(r.body["widget_key_masked"].as_str().unwrap().starts_with("****"));
        assert!(r.body.get("widget_key").is_none());
        let r = app.get("/api/v1/bots/w/widget?reveal=true").await;
        let old = r.body["widget_key"].as_str().unwrap().to_owned();
        assert!(r.body["embed_snippet"].as_str().unwrap().contains(&old));
        assert!(
            r.body["embed_snippet"]
                .as_str()
                .unwrap()
                .contains("https://cxb.example.com/widget.js")
        );
        let r = app
            .req(
                Method::PUT,
                "/api/v1/bots/w/widget",
                k,
                Some(json!({"enabled": true, "allowed_domains": ["shop.example.com", "*.acme.io"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = app
            .req(
                Method::PUT,
                "/api/v1/bots/w/widget",
                k,
                Some(json!({"enabled": true, "allowed_domains": ["https://bad/"]})),
            )
            .await;
        assert_eq!(r.body["error"]["field"], "allowed_domains[0]");
        let check = |key: String, origin: &'static str| {
            let st = app.state.clone();
            async move { crate::api::widget::check(&st, "w", &key, origin).await.unwrap() }
        };
        assert!(check(old.clone(), "https://shop.example.com").await);
        assert!(check(old.clone(), "https://a.acme.io:8443").await);
        assert!(!check(old.clone(), "https://evil.com").await);
        let r = app.req(Method::POST, "/api/v1/bots/w/widget/regenerate", k, None).await;
        assert_eq!(r.status, StatusCode::OK);
        let new = r.body["widget_key"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert!(!check(old, "https://shop.example.com").await, "old key stops at once");
        assert!(check(new, "https://shop.example.com").await);
        let (_, scoped) = app.key(&["w"], false).await;
        let r = app
            .req(
                Method::GET,
                "/api/v1/bots/w/widget?reveal=true",
                Auth::Key(&scoped),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn integration_tab_lists_variables_and_snippets_with_the_bot_id() {
    for app in apps("integration").await {
        let body = json!({
            "id": "intg", "name": "Integration",
            "system_prompt": "Greet {{crm.first_name}} from {{ crm.address.city }} about {{call.custom.offer}}.",
            "allowed_sip_headers": ["X-Campaign"],
            "variables": {"tier": "gold"},
            "crm_push": {"url": "https://crm.example.com", "key_mapper": {"mail": "{{crm.email}}"}}
        });
        let r = app
            .req(Method::POST, "/api/v1/bots", Auth::Key(&app.admin_key), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let r = app.get("/api/v1/bots/intg/integration").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let names = |ns: &str| -> Vec<String> {
            r.body["variables"][ns]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names("crm"), ["crm.address.city", "crm.email", "crm.first_name"]);
        let call = names("call");
        for n in [
            "call.number",
            "call.from_number",
            "call.to_number",
            "call.direction",
            "call.did",
            "call.sip_headers.X-Campaign",
            "call.custom.offer",
            "call.custom.tier",
        ] {
            assert!(call.contains(&n.to_owned()), "missing {n}: {call:?}");
        }
        assert!(names("system").contains(&"system.now".to_owned()));
        let crm = &r.body["variables"]["crm"];
        assert_eq!(crm[1]["example"], "jane.doe@example.com");
        for lang in ["curl", "python", "node"] {
            let s = r.body["snippets"][lang].as_str().unwrap();
            assert!(s.contains("intg"), "{lang}: {s}");
            assert!(s.contains("https://cxb.example.com/api/v1/dialout"), "{lang}: {s}");
            assert!(s.contains("X-API-Key") && s.contains("<YOUR_API_KEY>"), "{lang}: {s}");
        }
        assert!(
            r.body["snippets"]["python"]
                .as_str()
                .unwrap()
                .contains("import requests")
        );
        assert!(r.body["snippets"]["node"].as_str().unwrap().contains("fetch("));
    }
}
