//! List selectors and cursors, with Deno KV's rules.
//!
//! A selector is `prefix`, `prefix + start`, `prefix + end` or `start + end` (encoded
//! keys). A cursor is the URL-safe base64 (padded) of the last key a listing returned,
//! minus the selector's common prefix — so a cursor can only name keys inside the
//! selector it came from, and is refused (TypeError, "cursor out of bounds") when it
//! would move the range outside that selector.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;

use super::limits;
use crate::Result;

/// Which keys a listing visits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Keys under `prefix`, optionally from `start` or up to `end` (both under `prefix`).
    Prefixed {
        /// Encoded prefix.
        prefix: Vec<u8>,
        /// First key (inclusive).
        start: Option<Vec<u8>>,
        /// Last key (exclusive).
        end: Option<Vec<u8>>,
    },
    /// Keys in `[start, end)`.
    Range {
        /// First key (inclusive).
        start: Vec<u8>,
        /// Last key (exclusive).
        end: Vec<u8>,
    },
}

impl Selector {
    /// Builds a selector from its optional parts, refusing what Deno KV refuses.
    pub fn new(
        prefix: Option<Vec<u8>>,
        start: Option<Vec<u8>>,
        end: Option<Vec<u8>>,
    ) -> Result<Self> {
        // Only well-formed keys: no bound may reach the store's internal records.
        for part in [&prefix, &start, &end].into_iter().flatten() {
            super::key::decode(part)?;
        }
        match (prefix, start, end) {
            (Some(prefix), start, end) if start.is_none() || end.is_none() => {
                if let Some(s) = &start
                    && (!s.starts_with(&prefix) || s.len() == prefix.len())
                {
                    return Err(limits::error(
                        "Start key is not in the keyspace defined by prefix",
                    ));
                }
                if let Some(e) = &end
                    && (!e.starts_with(&prefix) || e.len() == prefix.len())
                {
                    return Err(limits::error(
                        "End key is not in the keyspace defined by prefix",
                    ));
                }
                Ok(Self::Prefixed { prefix, start, end })
            }
            (None, Some(start), Some(end)) => {
                if start > end {
                    return Err(limits::error("Start key is greater than end key"));
                }
                Ok(Self::Range { start, end })
            }
            _ => Err(limits::error("Invalid range")),
        }
    }

    /// The bytes every key of the selector starts with (what cursors are relative to).
    pub fn common_prefix(&self) -> &[u8] {
        match self {
            Self::Prefixed { prefix, .. } => prefix,
            Self::Range { start, end } => {
                let n = start.iter().zip(end).take_while(|(a, b)| a == b).count();
                &start[..n]
            }
        }
    }

    fn first(&self) -> Vec<u8> {
        match self {
            Self::Prefixed { start: Some(s), .. } | Self::Range { start: s, .. } => s.clone(),
            Self::Prefixed { prefix, .. } => [prefix.as_slice(), &[0]].concat(),
        }
    }

    fn last(&self) -> Vec<u8> {
        match self {
            Self::Prefixed { end: Some(e), .. } | Self::Range { end: e, .. } => e.clone(),
            Self::Prefixed { prefix, .. } => [prefix.as_slice(), &[0xff]].concat(),
        }
    }

    fn explicit_start(&self) -> Option<&[u8]> {
        match self {
            Self::Prefixed { start, .. } => start.as_deref(),
            Self::Range { start, .. } => Some(start),
        }
    }

    fn explicit_end(&self) -> Option<&[u8]> {
        match self {
            Self::Prefixed { end, .. } => end.as_deref(),
            Self::Range { end, .. } => Some(end),
        }
    }

    /// The `[start, end)` byte range to scan, resuming after `cursor` when given.
    pub fn range(&self, reverse: bool, cursor: Option<&[u8]>) -> Result<(Vec<u8>, Vec<u8>)> {
        let (first, last) = match cursor {
            None => (self.first(), self.last()),
            Some(cursor) => {
                let boundary = URL_SAFE
                    .decode(cursor)
                    .map_err(|_| limits::error("invalid cursor"))?;
                let key = [self.common_prefix(), &boundary].concat();
                let (first, last) = if reverse {
                    (self.first(), key)
                } else {
                    ([key.as_slice(), &[0]].concat(), self.last())
                };
                // A cursor may only narrow the selector's range, never widen it.
                let below = self.explicit_start().is_some_and(|s| first.as_slice() < s)
                    || first.as_slice() < self.first().as_slice();
                let above = self.explicit_end().is_some_and(|e| last.as_slice() > e)
                    || last.as_slice() > self.last().as_slice();
                if below || above {
                    return Err(limits::error("cursor out of bounds"));
                }
                (first, last)
            }
        };
        limits::read_key(&first)?;
        limits::read_key(&last)?;
        Ok((first, last))
    }

    /// The cursor naming `key` (a key this selector returned).
    pub fn cursor(&self, key: &[u8]) -> String {
        URL_SAFE.encode(&key[self.common_prefix().len().min(key.len())..])
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::k;
    use super::*;

    #[test]
    fn a_cursor_cannot_leave_its_prefix() {
        let bob = Selector::new(Some(k(&["users", "bob"])), None, None).unwrap();
        let alice_secret = k(&["users", "alice", "secret"]);
        // Whatever bytes a crafted cursor holds, they are read relative to the prefix.
        let forged = URL_SAFE.encode(&alice_secret);
        let (start, end) = bob.range(false, Some(forged.as_bytes())).unwrap();
        assert!(start.starts_with(&k(&["users", "bob"])) && end.starts_with(&k(&["users", "bob"])));
        // One that would move the range below the prefix is refused.
        let back = URL_SAFE.encode([0x00]);
        let reverse = bob.range(true, Some(back.as_bytes()));
        assert!(reverse.is_ok());
        let outside = URL_SAFE.encode([0xff, 0xff]);
        let err = bob.range(true, Some(outside.as_bytes())).unwrap_err();
        assert!(err.to_string().ends_with("cursor out of bounds"), "{err}");
        let err = bob.range(false, Some(b"!!")).unwrap_err();
        assert!(err.to_string().ends_with("invalid cursor"), "{err}");
    }

    #[test]
    fn malformed_bounds_are_refused() {
        assert!(Selector::new(Some(vec![0xff]), None, None).is_err());
        assert!(Selector::new(None, Some(vec![]), Some(vec![0xff, b'q'])).is_err());
    }

    #[test]
    fn selector_rules_are_deno_rules() {
        let p = k(&["a"]);
        let e = |r: Result<Selector>| r.unwrap_err().to_string();
        assert!(
            e(Selector::new(Some(p.clone()), Some(k(&["b"])), None))
                .ends_with("Start key is not in the keyspace defined by prefix")
        );
        assert!(
            e(Selector::new(Some(p.clone()), None, Some(p.clone())))
                .ends_with("End key is not in the keyspace defined by prefix")
        );
        assert!(
            e(Selector::new(None, Some(k(&["b"])), Some(k(&["a"]))))
                .ends_with("Start key is greater than end key")
        );
        let range = Selector::new(None, Some(k(&["a", "b"])), Some(k(&["a", "c"]))).unwrap();
        // Byte-wise, as Deno's: both bounds also share the next part's type code.
        assert_eq!(
            range.common_prefix(),
            &[k(&["a"]).as_slice(), &[0x02]].concat()[..]
        );
        let cursor = range.cursor(&k(&["a", "b", "x"]));
        let (start, _) = range.range(false, Some(cursor.as_bytes())).unwrap();
        assert_eq!(start, [k(&["a", "b", "x"]).as_slice(), &[0]].concat());
    }
}
