//! `krepis init <dir>`: scaffold a runnable app and prefetch what it needs.
//!
//! The app imports `@krepis/core` and its subpaths (`@krepis/core/http`, ...)
//! through its `deno.json` import map. No package registry serves Krepis yet,
//! so the map points at a local checkout (`<checkout>/packages/core/mod.ts`,
//! found as for the other commands) or at whatever `--core <path|url>` names.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use serde_json::{Value, json};

use crate::error::{CliError, Result};
use crate::progress::Steps;
use crate::workspace::{deno_command, spawn_error, tools_root};

/// Arguments of `krepis init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directory to create the app in (must be empty or absent).
    pub dir: PathBuf,
    /// Scaffold into a non-empty directory, overwriting template files.
    #[arg(long)]
    pub force: bool,
    /// Where `@krepis/core` comes from: a path to a checkout's packages/core
    /// (or its mod.ts), or a URL. Default: the local Krepis checkout.
    #[arg(long, value_name = "PATH|URL")]
    pub core: Option<String>,
    /// Skip caching dependencies and the native library.
    #[arg(long)]
    pub no_prefetch: bool,
}

/// The template, embedded in the binary: (path in the app, content).
const FILES: &[(&str, &str)] = &[
    ("main.ts", include_str!("../../templates/app/main.ts")),
    (
        "main_test.ts",
        include_str!("../../templates/app/main_test.ts"),
    ),
    ("src/app.ts", include_str!("../../templates/app/src/app.ts")),
    (
        "src/domain/greeting.ts",
        include_str!("../../templates/app/src/domain/greeting.ts"),
    ),
    (
        "src/ports/greeting_log.ts",
        include_str!("../../templates/app/src/ports/greeting_log.ts"),
    ),
    (
        "src/adapters/memory_greeting_log.ts",
        include_str!("../../templates/app/src/adapters/memory_greeting_log.ts"),
    ),
    (
        "src/application/commands/greet.ts",
        include_str!("../../templates/app/src/application/commands/greet.ts"),
    ),
    (
        "src/application/queries/count_greetings.ts",
        include_str!("../../templates/app/src/application/queries/count_greetings.ts"),
    ),
    (".gitignore", ".krepis/\n"),
];

/// Where the app gets `@krepis/core` (and, when local, the lint plugin).
#[derive(Debug, PartialEq, Eq)]
pub struct CoreSource {
    /// The import-map target for `@krepis/core`.
    pub specifier: String,
    /// Import-map entries of the subpaths (`@krepis/core/http` → its entry file).
    pub subpaths: Vec<(String, String)>,
    /// The ctx lint plugin, when the core is a local checkout.
    pub lint_plugin: Option<String>,
}

/// The subpath exports of `packages/core/deno.json`, for a core given by URL (a local
/// core's own `deno.json` is read instead; a test keeps the two equal).
const URL_SUBPATHS: &[(&str, &str)] = &[
    ("./http", "./http.ts"),
    ("./storage", "./storage.ts"),
    ("./native", "./native.ts"),
    ("./pipeline", "./pipeline.ts"),
    ("./testing", "./testing.ts"),
    ("./plugins", "./plugins.ts"),
    ("./knul", "./knul.ts"),
];

/// `("@krepis/core/http", "<base>/http.ts")` for each subpath export.
fn subpath_imports<'a>(
    base: &str,
    exports: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, String)> {
    exports
        .filter(|(key, _)| *key != ".")
        .map(|(key, file)| {
            (
                format!("@krepis/core/{}", key.trim_start_matches("./")),
                format!("{base}/{}", file.trim_start_matches("./")),
            )
        })
        .collect()
}

/// Resolves `--core` (or the default local checkout) to an import-map target.
pub fn core_source(core: Option<&str>) -> Result<CoreSource> {
    let Some(core) = core else {
        let root = tools_root().map_err(|_| {
            CliError::Usage(
                "cannot find a local Krepis checkout for @krepis/core; pass --core <path|url>"
                    .into(),
            )
        })?;
        return local_core(&root.join("packages/core"));
    };
    if core.contains("://") {
        let (specifier, base) = match core.strip_suffix("/mod.ts") {
            Some(base) => (core.to_string(), base.to_string()),
            None if core.ends_with(".ts") => (core.to_string(), String::new()),
            None => {
                let base = core.trim_end_matches('/');
                (format!("{base}/mod.ts"), base.to_string())
            }
        };
        // A single module URL other than mod.ts has no subpaths next to it.
        let subpaths = if base.is_empty() {
            Vec::new()
        } else {
            subpath_imports(&base, URL_SUBPATHS.iter().copied())
        };
        return Ok(CoreSource {
            specifier,
            subpaths,
            lint_plugin: None,
        });
    }
    local_core(Path::new(core))
}

fn local_core(path: &Path) -> Result<CoreSource> {
    let module = if path.is_dir() {
        path.join("mod.ts")
    } else {
        path.to_path_buf()
    };
    let module = module.canonicalize().map_err(|_| {
        CliError::Usage(format!(
            "--core {}: no @krepis/core module there (expected packages/core or its mod.ts)",
            path.display()
        ))
    })?;
    let package = module.parent().unwrap_or(Path::new("/"));
    let plugin = package
        .parent()
        .map(|packages| packages.join("smart-gen/lint_plugin.ts"))
        .filter(|p| p.is_file());
    Ok(CoreSource {
        specifier: module.display().to_string(),
        subpaths: local_subpaths(package),
        lint_plugin: plugin.map(|p| p.display().to_string()),
    })
}

/// The subpath exports listed in the local package's `deno.json` (none if it has none).
fn local_subpaths(package: &Path) -> Vec<(String, String)> {
    let config = fs::read_to_string(package.join("deno.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok());
    let Some(Value::Object(exports)) = config.as_ref().and_then(|c| c.get("exports")) else {
        return Vec::new();
    };
    let entries = exports
        .iter()
        .filter_map(|(key, file)| Some((key.as_str(), file.as_str()?)));
    subpath_imports(&package.display().to_string(), entries)
}

/// The app's `deno.json`.
pub fn deno_json(core: &CoreSource) -> Value {
    let mut config = json!({
        "tasks": {
            "start": {
                "description": "Serve the app",
                "command": "deno run --allow-net --allow-env --allow-read --allow-write --allow-ffi main.ts"
            },
            "dev": {
                "description": "Serve the app and reload it on every change",
                "command": "krepis dev main.ts"
            },
            "test": {
                "description": "Run the tests",
                "command": "deno test --allow-all"
            },
            "check": {
                "description": "Type-check, lint, and check ctx parameters and the architecture",
                "command": "deno check main.ts main_test.ts && deno lint && krepis check"
            }
        },
        "imports": {
            "@krepis/core": core.specifier,
            "zod": "npm:zod@^4.6.7"
        }
    });
    for (key, target) in &core.subpaths {
        config["imports"][key] = json!(target);
    }
    if let Some(plugin) = &core.lint_plugin {
        config["lint"] = json!({ "plugins": [plugin] });
    }
    config
}

fn ensure_empty(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "{} exists and is not a directory",
            dir.display()
        )));
    }
    if !dir.is_dir() || force {
        return Ok(());
    }
    let mut entries = fs::read_dir(dir).map_err(|e| CliError::io(dir, e))?;
    if entries.next().is_some() {
        return Err(CliError::Usage(format!(
            "{} is not empty; use --force to scaffold into it anyway",
            dir.display()
        )));
    }
    Ok(())
}

fn write(dir: &Path, rel: &str, content: &str) -> Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| CliError::io(parent, e))?;
    }
    fs::write(&path, content).map_err(|e| CliError::io(&path, e))
}

/// Runs `cmd` quietly in `dir`; returns its stderr on failure.
fn quiet(mut cmd: Command, dir: &Path) -> Result<std::result::Result<String, String>> {
    let out = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error("deno", e))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Ok(if out.status.success() {
        Ok(stdout)
    } else {
        Err(stderr)
    })
}

/// Caches the app's dependencies and resolves (downloading if needed) the
/// native library through `@krepis/core`'s own loader. Failures are
/// warnings: the app still works once the cause is fixed.
fn prefetch(dir: &Path) -> Result<()> {
    let mut steps = Steps::new(2);
    steps.step("caching dependencies");
    let mut cache = deno_command();
    cache.args(["cache", "main.ts", "main_test.ts"]);
    if let Err(e) = quiet(cache, dir)? {
        steps.println(&format!("warning: caching dependencies failed:\n{e}"));
    }
    steps.step("fetching the native library");
    let mut fetch = deno_command();
    fetch.args([
        "eval",
        "const { kernelInfo } = await import(\"@krepis/core/native\"); \
         const lib = await kernelInfo(); console.log(`${lib.source} ${lib.libraryPath}`);",
    ]);
    // On a terminal the loader draws its own byte-level download bar, so the
    // spinner steps aside and the loader gets the terminal.
    let outcome = if steps.visible() {
        steps.finish();
        let out = fetch
            .current_dir(dir)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| spawn_error("deno", e))?;
        let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            Ok(found)
        } else {
            Err("see above".to_string())
        }
    } else {
        quiet(fetch, dir)?
    };
    match outcome {
        Ok(found) => eprintln!("native library: {found}"),
        Err(e) => eprintln!(
            "warning: could not prefetch the native library (the app retries on first start):\n{e}"
        ),
    }
    Ok(())
}

/// Scaffolds the app.
pub fn run(args: InitArgs) -> Result<()> {
    ensure_empty(&args.dir, args.force)?;
    let core = core_source(args.core.as_deref())?;
    fs::create_dir_all(&args.dir).map_err(|e| CliError::io(&args.dir, e))?;
    let config = serde_json::to_string_pretty(&deno_json(&core))
        .map_err(|e| CliError::Failed(format!("cannot render deno.json: {e}")))?;
    write(&args.dir, "deno.json", &format!("{config}\n"))?;
    for (rel, content) in FILES {
        write(&args.dir, rel, content)?;
    }
    if !args.no_prefetch {
        prefetch(&args.dir)?;
    }
    eprintln!(
        "created a Krepis app in {}\n  cd {} && deno task dev",
        args.dir.display(),
        args.dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_core_gets_mod_ts_and_no_plugin() {
        let core = core_source(Some("https://example.test/krepis/core/")).unwrap();
        assert_eq!(core.specifier, "https://example.test/krepis/core/mod.ts");
        assert!(core.subpaths.contains(&(
            "@krepis/core/http".to_string(),
            "https://example.test/krepis/core/http.ts".to_string()
        )));
        assert_eq!(core.lint_plugin, None);
    }

    #[test]
    fn url_subpaths_match_the_checkout_exports() {
        let core_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packages/core");
        let mut local = local_subpaths(&core_dir);
        let mut from_url = subpath_imports(
            &core_dir.display().to_string(),
            URL_SUBPATHS.iter().copied(),
        );
        local.sort();
        from_url.sort();
        assert!(!local.is_empty());
        assert_eq!(
            from_url, local,
            "update URL_SUBPATHS to packages/core/deno.json"
        );
    }

    #[test]
    fn local_core_resolves_mod_ts_and_the_lint_plugin() {
        let core_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packages/core");
        let core = core_source(Some(core_dir.to_str().unwrap())).unwrap();
        assert!(core.specifier.ends_with("packages/core/mod.ts"));
        let (_, storage) = core
            .subpaths
            .iter()
            .find(|(key, _)| key == "@krepis/core/storage")
            .unwrap();
        assert!(Path::new(storage).is_file(), "{storage}");
        assert!(
            core.lint_plugin
                .unwrap()
                .ends_with("smart-gen/lint_plugin.ts")
        );
    }

    #[test]
    fn missing_core_is_a_usage_error() {
        let err = core_source(Some("/definitely/not/here")).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn refuses_a_non_empty_directory_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        ensure_empty(dir.path(), false).unwrap();
        fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        assert_eq!(ensure_empty(dir.path(), false).unwrap_err().exit_code(), 2);
        ensure_empty(dir.path(), true).unwrap();
    }
}
