//! Unit tests of the WebSocket route (the end-to-end ones are in `tests/ws_e2e.rs`).

use super::*;

#[test]
fn token_in_query_or_bearer_header() {
    let mut h = HeaderMap::new();
    assert!(authorize("s3cret", &h, None).is_err());
    assert!(authorize("s3cret", &h, Some("s3cret")).is_ok());
    assert!(authorize("s3cret", &h, Some("wrong!")).is_err());
    assert!(authorize("s3cret", &h, Some("bad\nvalue")).is_err());
    assert!(authorize("", &h, Some("")).is_err());
    h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
    assert!(authorize("s3cret", &h, None).is_ok());
    assert!(authorize("s3cret", &h, Some("wrong!")).is_ok());
    h.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
    assert!(authorize("s3cret", &h, Some("s3cret")).is_ok());
    assert!(authorize("s3cret", &h, None).is_err());
}

#[test]
fn refusals_map_to_statuses() {
    let id = || "b".to_owned();
    assert_eq!(
        WsRouteError::UnknownBot { bot_id: id() }.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(WsRouteError::Inactive { bot_id: id() }.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        WsRouteError::OutsideHours { bot_id: id() }.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        WsRouteError::AtCapacity { active: 1 }.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[test]
fn session_ids_are_unique_hex() {
    let a = new_session_id(1);
    let b = new_session_id(1);
    assert_ne!(a, b);
    assert_eq!(a.len(), 20);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    assert!(a.ends_with("0001"));
}

#[test]
fn active_guard_counts_on_this_thread() {
    let before = active_calls_on_this_shard();
    let g = ActiveGuard::new();
    assert_eq!(active_calls_on_this_shard(), before + 1);
    drop(g);
    assert_eq!(active_calls_on_this_shard(), before);
}

#[test]
fn calls_are_handed_to_the_shards_local_set() {
    use crate::engine::agent::{has_local_spawner, local_spawner, spawn_on_shard};
    // Not a shard thread: the job comes back.
    assert!(!has_local_spawner());
    assert!(spawn_on_shard(Box::pin(async {})).is_err());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        tokio::task::spawn_local(local_spawner());
        tokio::task::yield_now().await;
        assert!(has_local_spawner());
        // From a `tokio::spawn` task (as axum runs the upgrade), a job needing `spawn_local` runs.
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let job = Box::pin(async move {
                let inner = tokio::task::spawn_local(async { 7 });
                let _ = tx.send(inner.await.unwrap());
            });
            assert!(spawn_on_shard(job).is_ok());
        });
        assert_eq!(rx.await.unwrap(), 7);
    });
}
