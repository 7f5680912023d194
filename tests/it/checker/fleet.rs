//! The wirecache the checker talks to: one instance, or three sharing a private
//! Redis (design §10), client connection `n` going through instance `n % 3`, so a
//! write through one instance is read back through the others.

use super::driver::Rig;
use crate::common::proxy::{Proxy, ProxyBuilder};
use crate::common::redis::Redis;

pub struct Fleet {
    proxies: Vec<Proxy>,
    /// The bus of [`Rig::Cluster`], kept alive as long as the instances.
    _redis: Option<Redis>,
}

impl Fleet {
    /// `builder` is the one instance's; `rig` says how many and how joined.
    pub async fn start(builder: ProxyBuilder, rig: Rig) -> Fleet {
        let (count, redis) = match rig {
            Rig::Cluster | Rig::ClusterL2 => (3, Some(Redis::start())),
            Rig::Apart => (3, None),
            Rig::Plain | Rig::WritesBehind | Rig::ServeSnapshots => (1, None),
        };
        let mut proxies = Vec::new();
        for i in 0..count {
            let mut b = builder.clone();
            if let Some(r) = &redis {
                let mut table = r.cluster_table("strict", &format!("i{i}"));
                if rig == Rig::ClusterL2 {
                    // Generous: a lookup that times out is only a miss, but rarer
                    // ones exercise the tier more.
                    table.push_str("l2 = true\nl2_timeout = \"1s\"\n");
                }
                b = b.toml(&table);
            }
            let p = b.start().await;
            if let Some(c) = p.engine().cluster() {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while c.state() != wirecache::cluster::BusState::Up {
                    assert!(std::time::Instant::now() < deadline, "bus never up");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            proxies.push(p);
        }
        Fleet {
            proxies,
            _redis: redis,
        }
    }

    /// The instance client connection `conn` goes through.
    pub fn pick(&self, conn: usize) -> &Proxy {
        &self.proxies[conn % self.proxies.len()]
    }

    /// Hits of cache `id`, all instances together.
    pub async fn hits_of(&self, id: &str) -> f64 {
        let mut sum = 0.0;
        for p in &self.proxies {
            sum += p.hits_of(id).await;
        }
        sum
    }

    /// Every instance's `/metrics`, one after the other.
    pub async fn metrics(&self) -> String {
        let mut all = String::new();
        for p in &self.proxies {
            all.push_str(&p.metrics().await);
        }
        all
    }
}
