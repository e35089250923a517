//! The deny-list: bounded, and never forgetting a live entry.

use super::*;
use crate::sso::session::SessionUser;

fn session(id: &str, sid: &str, created_at: i64) -> Session {
    Session {
        id: id.into(),
        user: SessionUser {
            iss: "https://op".into(),
            sub: format!("{id}-sub"),
            sid: Some(sid.into()),
            ..SessionUser::default()
        },
        id_token: None,
        access_token: None,
        refresh_token: None,
        access_expires_at: None,
        created_at,
        refreshed_at: created_at,
        expires_at: None,
    }
}

fn by_sid(sid: &str) -> LogoutTarget {
    LogoutTarget {
        sid: Some(sid.into()),
        sub: None,
    }
}

#[test]
fn a_full_list_refuses_a_logout_and_keeps_every_live_entry() {
    let list = DenyList::with_capacity(4);
    list.record(&by_sid("a"), "jti-a", 100, 1000).unwrap();
    list.record(&by_sid("b"), "jti-b", 100, 1000).unwrap();
    assert!(matches!(
        list.record(&by_sid("c"), "jti-c", 200, 1100),
        Err(LogoutError::Full)
    ));
    assert!(matches!(
        list.record(&by_sid("c"), "jti-a", 200, 1100),
        Err(LogoutError::Replayed)
    ));
    for sid in ["a", "b"] {
        assert!(list.ended(&session("x", sid, 50)), "{sid} is still ended");
    }
    assert!(
        !list.ended(&session("x", "c", 50)),
        "c was refused, not recorded"
    );
    // Once the old entries have expired, they make room.
    list.record(&by_sid("c"), "jti-c", 1000, 2000).unwrap();
    assert!(list.ended(&session("x", "c", 50)));
}

#[test]
fn a_sign_out_ends_that_session_only() {
    let list = DenyList::default();
    let alice = session("alice", "sid-1", 100);
    assert!(list.record_sign_out(&alice, 200, 1000));
    assert!(list.ended(&alice));
    let again = session("alice-2", "sid-1", 150);
    assert!(
        !list.ended(&again),
        "another session of the same provider session"
    );
}

#[test]
fn a_sign_out_that_does_not_fit_ends_every_older_session() {
    let list = DenyList::with_capacity(3);
    list.record(&by_sid("a"), "jti-a", 100, 1000).unwrap();
    let early = session("early", "sid-e", 120);
    assert!(list.record_sign_out(&early, 130, 1000));
    let bob = session("bob", "sid-b", 150);
    let carol = session("carol", "sid-c", 160);
    assert!(!list.record_sign_out(&bob, 200, 1000), "full: fails closed");
    assert!(list.ended(&bob), "the signed-out session ended");
    assert!(
        list.ended(&carol),
        "so did every session created until then"
    );
    assert!(list.ended(&session("x", "a", 300)), "live entries are kept");
    let later = session("dave", "sid-d", 201);
    assert!(!list.ended(&later), "logins after it are untouched");
    assert!(list.ended(&early));
    // The sessions it covers no longer need entries of their own: room again.
    assert!(list.record_sign_out(&later, 250, 1000));
    assert!(list.ended(&later) && list.ended(&early));
}

#[test]
fn a_poisoned_list_still_remembers() {
    let list = std::sync::Arc::new(DenyList::default());
    list.record(&by_sid("a"), "jti-a", 100, 1000).unwrap();
    let poisoner = list.clone();
    let _ = std::thread::spawn(move || {
        let _guard = poisoner.inner.lock().unwrap();
        panic!("poison the lock");
    })
    .join();
    assert!(list.inner.is_poisoned());
    assert!(list.ended(&session("x", "a", 50)));
    list.record(&by_sid("b"), "jti-b", 100, 1000).unwrap();
    assert!(list.ended(&session("x", "b", 50)));
}
