//! Per-tenant limits decided before a call reaches TypeScript: a token bucket (calls per
//! second with a burst) and a cap on calls in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::proto::KnulTenantLimits;

/// Why a tenant's call was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The token bucket is empty.
    Rate,
    /// The tenant has `max_concurrent` calls in flight.
    Concurrency,
}

struct Tenant {
    tokens: f64,
    refilled: Instant,
    in_flight: u32,
}

/// The limits of every tenant (the same limits for each), with their live state.
pub struct Tenants {
    max_concurrent: u32,
    rate: f64,
    burst: f64,
    state: Arc<Mutex<HashMap<String, Tenant>>>,
}

/// Tenants remembered at most; past that, idle ones (nothing in flight, bucket refilled)
/// are forgotten, so a client inventing tenant names cannot grow the map without bound.
const MAX_TENANTS: usize = 10_000;

/// A tenant's concurrency slot; released on drop.
pub struct Slot {
    tenant: String,
    state: Option<Arc<Mutex<HashMap<String, Tenant>>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(state) = &self.state {
            let mut state = state.lock();
            if let Some(t) = state.get_mut(&self.tenant) {
                t.in_flight -= 1;
            }
        }
    }
}

impl Tenants {
    /// Limits from the options; zero fields mean unlimited.
    pub fn new(limits: Option<&KnulTenantLimits>) -> Self {
        let limits = limits.cloned().unwrap_or_default();
        let rate = limits.rate_per_sec.max(0.0);
        Self {
            max_concurrent: limits.max_concurrent,
            rate,
            burst: if limits.burst > 0.0 {
                limits.burst
            } else {
                rate.max(1.0)
            },
            state: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes a token and a concurrency slot for `tenant`, or says which limit refused.
    pub fn admit(&self, tenant: &str) -> Result<Slot, Refusal> {
        if self.rate == 0.0 && self.max_concurrent == 0 {
            return Ok(Slot {
                tenant: String::new(),
                state: None,
            });
        }
        let now = Instant::now();
        let mut state = self.state.lock();
        if state.len() >= MAX_TENANTS && !state.contains_key(tenant) {
            let (rate, burst) = (self.rate, self.burst);
            state.retain(|_, t| {
                let refilled = rate == 0.0
                    || t.tokens + now.duration_since(t.refilled).as_secs_f64() * rate >= burst;
                t.in_flight > 0 || !refilled
            });
        }
        let t = state.entry(tenant.to_owned()).or_insert(Tenant {
            tokens: self.burst,
            refilled: now,
            in_flight: 0,
        });
        if self.rate > 0.0 {
            let elapsed = now.duration_since(t.refilled).as_secs_f64();
            t.tokens = (t.tokens + elapsed * self.rate).min(self.burst);
            t.refilled = now;
            if t.tokens < 1.0 {
                return Err(Refusal::Rate);
            }
        }
        if self.max_concurrent > 0 && t.in_flight >= self.max_concurrent {
            return Err(Refusal::Concurrency);
        }
        if self.rate > 0.0 {
            t.tokens -= 1.0;
        }
        t.in_flight += 1;
        Ok(Slot {
            tenant: tenant.to_owned(),
            state: Some(Arc::clone(&self.state)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_slots_are_per_tenant() {
        let tenants = Tenants::new(Some(&KnulTenantLimits {
            max_concurrent: 2,
            rate_per_sec: 0.001,
            burst: 3.0,
        }));
        let a1 = tenants.admit("a").unwrap();
        let _a2 = tenants.admit("a").unwrap();
        assert_eq!(tenants.admit("a").err(), Some(Refusal::Concurrency));
        let _b = tenants.admit("b").unwrap();
        drop(a1);
        let _a3 = tenants.admit("a").unwrap();
        assert_eq!(tenants.admit("a").err(), Some(Refusal::Rate));
        assert!(Tenants::new(None).admit("x").is_ok());
    }

    #[test]
    fn idle_tenants_are_forgotten_past_the_cap() {
        let tenants = Tenants::new(Some(&KnulTenantLimits {
            max_concurrent: 1,
            ..Default::default()
        }));
        let busy = tenants.admit("busy").unwrap();
        for i in 0..MAX_TENANTS + 10 {
            drop(tenants.admit(&format!("t{i}")).unwrap());
        }
        let state = tenants.state.lock();
        assert!(state.len() <= MAX_TENANTS, "{}", state.len());
        assert!(
            state.contains_key("busy"),
            "a tenant with calls in flight stays"
        );
        drop(state);
        drop(busy);
    }
}
