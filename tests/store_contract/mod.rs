//! The `Store` contract for `RedisStore`, shared by the single-instance
//! tests (`redis_failover.rs`) and the cluster tests (`redis_cluster.rs`).
#![allow(dead_code)]

use ackwire::store::{Appended, ReceiptKey, RedisStore, Retention, Store};
use ackwire::{StreamId, SyncRange, Version};
use bytes::Bytes;
use std::time::Duration;

/// What every `RedisStore` must do, on one instance or a cluster: appends
/// and duplicates, reads in every direction, heads, receipts, outbox heads
/// and bounds. `store` has a fresh prefix.
pub async fn contract(store: &RedisStore) {
    let s = StreamId(5);
    let key = ReceiptKey {
        client: 9,
        outbox: Version(4),
    };
    let Appended::New(first) = store
        .append(s, Bytes::from("a:b"), Some(key))
        .await
        .unwrap()
    else {
        panic!("new")
    };
    assert_eq!((first.prev, first.version), (Version::ZERO, Version(1)));
    assert_eq!(
        store
            .append(s, Bytes::from("a:b"), Some(key))
            .await
            .unwrap(),
        Appended::Duplicate(Version(1))
    );
    let mut versions = vec![Version(1)];
    for i in 0..9 {
        let Appended::New(m) = store
            .append(s, Bytes::from(format!("m{i}")), None)
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(m.prev, *versions.last().unwrap());
        versions.push(m.version);
    }
    assert_eq!(store.head(s).await.unwrap(), versions[9]);
    assert_eq!(store.receipt(key).await.unwrap(), Some(Version(1)));
    assert_eq!(store.outbox_head(9).await.unwrap(), Version(4));
    assert_eq!(store.outbox_head(10).await.unwrap(), Version::ZERO);
    let page = |range, limit| {
        let store = store.clone();
        async move {
            let p = store.read(s, range, limit).await.unwrap();
            (
                p.messages.iter().map(|m| m.version).collect::<Vec<_>>(),
                p.more,
            )
        }
    };
    assert_eq!(
        page(SyncRange::After(Version::ZERO), 4).await,
        (versions[..4].to_vec(), true)
    );
    assert_eq!(
        page(SyncRange::After(versions[5]), 4).await,
        (versions[6..].to_vec(), false)
    );
    assert_eq!(
        page(SyncRange::Latest, 3).await,
        (versions[7..].to_vec(), true)
    );
    assert_eq!(
        page(SyncRange::Before(versions[5]), 3).await,
        (versions[2..5].to_vec(), true)
    );
    assert_eq!(
        page(SyncRange::Before(versions[2]), 3).await,
        (versions[..2].to_vec(), false)
    );
    let p = store
        .read(s, SyncRange::After(Version(1)), 1)
        .await
        .unwrap();
    assert_eq!(p.messages[0].payload, "m0");
    assert_eq!(p.messages[0].prev, Version(1));
    store.persist_bound(s, Version(64)).await.unwrap();
    store.persist_bound(s, Version(32)).await.unwrap();
    assert_eq!(
        store.load_bound(s).await.unwrap(),
        Version(64),
        "never lowered"
    );
}

/// Retention by count and by age, on `store` (a fresh prefix): trimmed
/// versions are reported by every read, never silently skipped; heads and
/// `prev`s go on from trimmed versions; the newest message stays.
pub async fn retention(store: &RedisStore) {
    assert!(store
        .clone()
        .with_retention(Retention {
            max_messages: Some(0),
            max_age: None
        })
        .is_err());
    let by_count = store
        .clone()
        .with_retention(Retention {
            max_messages: Some(3),
            max_age: None,
        })
        .unwrap();
    let s = StreamId(11);
    let mut versions = Vec::new();
    for i in 0..5 {
        versions.push(
            by_count
                .append(s, Bytes::from(format!("c{i}")), None)
                .await
                .unwrap()
                .version(),
        );
    }
    let all = by_count
        .read(s, SyncRange::After(Version::ZERO), 100)
        .await
        .unwrap();
    let kept: Vec<Version> = all.messages.iter().map(|m| m.version).collect();
    assert_eq!(kept, versions[2..].to_vec(), "the newest 3 stay");
    assert_eq!(
        all.trimmed, versions[1],
        "and the read says where they start"
    );
    assert_eq!(all.messages[0].prev, versions[1]);
    // A read from past the trimmed point has nothing trimmed in its way,
    // but still says how far trimming reached.
    let after = by_count
        .read(s, SyncRange::After(versions[3]), 100)
        .await
        .unwrap();
    assert_eq!(after.messages.len(), 1);
    assert_eq!(after.trimmed, versions[1]);
    // History ends at the trimmed point.
    let history = by_count
        .read(s, SyncRange::Before(versions[4]), 100)
        .await
        .unwrap();
    assert_eq!(history.messages.len(), 2);
    assert!(!history.more);
    assert_eq!(history.trimmed, versions[1]);
    // Trimming never lowers the head nor reuses a version.
    let next = by_count.append(s, Bytes::from("c5"), None).await.unwrap();
    let Appended::New(next) = next else { panic!() };
    assert_eq!(next.prev, versions[4]);
    assert_eq!(by_count.head(s).await.unwrap(), next.version);

    let by_age = store
        .clone()
        .with_retention(Retention {
            max_messages: None,
            max_age: Some(Duration::from_millis(300)),
        })
        .unwrap();
    let s = StreamId(12);
    let old = by_age.append(s, Bytes::from("old"), None).await.unwrap();
    let old2 = by_age.append(s, Bytes::from("old2"), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let Appended::New(new) = by_age.append(s, Bytes::from("new"), None).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        new.prev,
        old2.version(),
        "the chain goes on over trimmed messages"
    );
    let page = by_age
        .read(s, SyncRange::After(Version::ZERO), 100)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1, "the expired messages are gone");
    assert_eq!(page.trimmed, old2.version());
    assert!(old.version() < old2.version());
    // The newest message is never trimmed: the head stays readable.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let s2 = StreamId(13);
    by_age.append(s2, Bytes::from("x"), None).await.unwrap();
    assert_eq!(by_age.head(s).await.unwrap(), new.version);
}
