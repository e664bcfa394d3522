//! `krepis.plugin.json`: what a plugin is and the permissions it needs, in Deno's terms.
//! Parsing reports every problem at once, each naming its field.

use serde::{Deserialize, Serialize};

use crate::{KernelError, Result};

/// File name of a plugin's manifest, at the root of the plugin directory.
pub const MANIFEST_FILE: &str = "krepis.plugin.json";

/// Largest accepted manifest, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// What a plugin plugs into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// A pipeline behavior of an app: runs before each command or query it wraps.
    Behavior,
    /// A `krepis` CLI command.
    Command,
}

/// The permissions a plugin may use, mirroring Deno's `--allow-*` flags. Lists name what is
/// allowed; an empty list allows nothing; the booleans allow all or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Paths the plugin may read (files or directories, as `--allow-read`).
    #[serde(default)]
    pub read: Vec<String>,
    /// Paths the plugin may write (as `--allow-write`).
    #[serde(default)]
    pub write: Vec<String>,
    /// Hosts the plugin may reach: `host` or `host:port` (as `--allow-net`).
    #[serde(default)]
    pub net: Vec<String>,
    /// Environment variables the plugin may read (as `--allow-env`).
    #[serde(default)]
    pub env: Vec<String>,
    /// Whether the plugin may start subprocesses (`--allow-run`).
    #[serde(default)]
    pub run: bool,
    /// Whether the plugin may load native libraries (`--allow-ffi`).
    #[serde(default)]
    pub ffi: bool,
    /// Whether the plugin may read system information (`--allow-sys`).
    #[serde(default)]
    pub sys: bool,
}

/// A validated `krepis.plugin.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Lowercase name: letters, digits, `-` and `_`, at most 64 characters.
    pub name: String,
    /// Semantic version, e.g. `1.2.0`.
    pub version: String,
    /// Entry module, relative to the plugin directory (`.ts`, `.js`, `.mts` or `.mjs`).
    pub entry: String,
    /// What the plugin plugs into.
    pub kind: PluginKind,
    /// One line for people, optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the plugin may do.
    pub permissions: Permissions,
}

impl Manifest {
    /// Parses and validates manifest bytes; the error lists every problem with its field.
    ///
    /// ```
    /// use krepis_kernel::plugin::Manifest;
    /// let m = Manifest::parse(br#"{"name":"hello","version":"1.0.0","entry":"mod.ts",
    ///   "kind":"behavior","permissions":{"env":["GREETING"]}}"#).unwrap();
    /// assert_eq!(m.permissions.env, ["GREETING"]);
    /// assert!(Manifest::parse(br#"{"name":"Bad Name"}"#).is_err());
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(invalid(format!(
                "it is {} bytes; the limit is {MAX_MANIFEST_BYTES}",
                bytes.len()
            )));
        }
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        let problems = manifest.problems();
        if problems.is_empty() {
            Ok(manifest)
        } else {
            Err(invalid(problems.join("; ")))
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !name_ok {
            out.push(format!(
                "`name` {:?} must be 1-64 lowercase letters, digits, `-` or `_`",
                self.name
            ));
        }
        if !is_semver(&self.version) {
            out.push(format!(
                "`version` {:?} must be a semantic version like 1.0.0",
                self.version
            ));
        }
        if let Err(why) = check_entry(&self.entry) {
            out.push(format!("`entry` {:?} {why}", self.entry));
        }
        let p = &self.permissions;
        for (field, list) in [("read", &p.read), ("write", &p.write)] {
            for path in list {
                // Commas separate entries of Deno's `--allow-*` flags.
                if path.is_empty() || path.contains(['\0', ',']) {
                    out.push(format!(
                        "`permissions.{field}` entry {path:?} is empty or contains NUL or a comma"
                    ));
                }
            }
        }
        for host in &p.net {
            if !is_net_entry(host) {
                out.push(format!(
                    "`permissions.net` entry {host:?} must be `host` or `host:port` (no scheme or path)"
                ));
            }
        }
        for name in &p.env {
            let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                out.push(format!(
                    "`permissions.env` entry {name:?} is not an environment variable name"
                ));
            }
        }
        out
    }
}

fn invalid(why: String) -> KernelError {
    KernelError::invalid(format!("{MANIFEST_FILE}: {why}"))
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
}

fn check_entry(entry: &str) -> std::result::Result<(), &'static str> {
    if entry.is_empty() || entry.starts_with('/') || entry.contains('\\') {
        return Err("must be a relative path inside the plugin, `/` separated");
    }
    if entry
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("must not contain empty, `.` or `..` components");
    }
    if ![".ts", ".js", ".mts", ".mjs"]
        .iter()
        .any(|ext| entry.ends_with(ext))
    {
        return Err("must be a .ts, .js, .mts or .mjs module");
    }
    Ok(())
}

fn is_net_entry(entry: &str) -> bool {
    let (host, port) = match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (entry, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    host_ok && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Manifest> {
        Manifest::parse(json.as_bytes())
    }

    #[test]
    fn a_full_manifest_parses_and_missing_lists_default_to_empty() {
        let m = parse(
            r#"{"name":"rate-limit","version":"0.2.0-beta.1","entry":"src/mod.ts",
                "kind":"command","permissions":{"net":["api.example.com:443"],"run":true}}"#,
        )
        .unwrap();
        assert_eq!(m.kind, PluginKind::Command);
        assert!(m.permissions.read.is_empty() && m.permissions.run && !m.permissions.ffi);
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        let e = parse(
            r#"{"name":"Bad","version":"1","entry":"../x.ts","kind":"behavior",
                "permissions":{"net":["https://x.com/"],"env":["1X"]}}"#,
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "`name`",
            "`version`",
            "`entry`",
            "`permissions.net`",
            "`permissions.env`",
        ] {
            assert!(e.contains(needle), "{needle} missing from {e}");
        }
    }

    #[test]
    fn unknown_fields_missing_fields_and_bad_kinds_are_refused() {
        let unknown = parse(
            r#"{"name":"a","version":"1.0.0","entry":"a.ts","kind":"behavior","permissions":{"reed":[]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(unknown.contains("unknown field `reed`"), "{unknown}");
        let missing = parse(r#"{"name":"a","version":"1.0.0","kind":"behavior","permissions":{}}"#)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("missing field `entry`"), "{missing}");
        let kind = parse(
            r#"{"name":"a","version":"1.0.0","entry":"a.ts","kind":"daemon","permissions":{}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(kind.contains("unknown variant `daemon`"), "{kind}");
        assert!(
            parse("not json")
                .unwrap_err()
                .to_string()
                .starts_with("invalid argument: krepis.plugin.json: ")
        );
    }
}
