//! `krepis init <dir>`: scaffold a runnable app and prefetch what it needs.
//!
//! The app imports `@krepis/core` through its `deno.json` import map:
//! `jsr:@krepis/core@^<version>` (this CLI's version) by default, so the app
//! can be committed, moved and run anywhere. Contributors link it to a
//! checkout instead (`--core <path>` or `--dev`). Every file is written in
//! one journaled transaction, so `krepis undo` takes an init back, and files
//! that exist with other content are only replaced with `--force`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use serde_json::{Map, Value, json};

use crate::error::{CliError, Result};
use crate::progress::Steps;
use crate::workspace::{LINT_V8_FLAGS, VERSION, contributor_checkout, deno_command, spawn_error};
use crate::writes::{self, Expected, FileChange};

/// Arguments of `krepis init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directory to create the app in.
    pub dir: PathBuf,
    /// Replace files that exist with other content (journaled: `krepis undo` restores them).
    #[arg(long)]
    pub force: bool,
    /// Where `@krepis/core` comes from: a Krepis checkout's packages/core (or
    /// its mod.ts), a `jsr:` specifier, or a URL. Default: jsr:@krepis/core@^<version>.
    #[arg(long, value_name = "PATH|SPECIFIER", conflicts_with = "dev")]
    pub core: Option<String>,
    /// Link the app to the Krepis checkout around the current directory (or
    /// $KREPIS_HOME); `krepis dev` then also rebuilds its kernel.
    #[arg(long)]
    pub dev: bool,
    /// Print the files (as a diff against what is there) without writing anything.
    #[arg(long)]
    pub dry_run: bool,
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

/// Where the app gets `@krepis/core` (and the ctx lint plugin).
#[derive(Debug, PartialEq, Eq)]
pub struct CoreSource {
    /// Import-map entries: `@krepis/core` and, for a checkout, each subpath export.
    pub imports: Map<String, Value>,
    /// The ctx lint plugin's specifier, when there is one.
    pub lint_plugin: Option<String>,
}

/// The subpath exports of `packages/core/deno.json`, for a core given by URL
/// (a checkout's own `deno.json` is read instead; a test keeps the two equal).
const URL_SUBPATHS: &[(&str, &str)] = &[
    ("http", "http.ts"),
    ("storage", "storage.ts"),
    ("native", "native.ts"),
    ("pipeline", "pipeline.ts"),
    ("testing", "testing.ts"),
    ("knul", "knul.ts"),
    ("plugins", "plugins.ts"),
];

/// The published packages of this CLI's version.
fn published_core() -> CoreSource {
    let mut imports = Map::new();
    imports.insert(
        "@krepis/core".into(),
        json!(format!("jsr:@krepis/core@^{VERSION}")),
    );
    CoreSource {
        imports,
        lint_plugin: Some(format!("jsr:@krepis/smart-gen@^{VERSION}/lint-plugin")),
    }
}

/// Resolves `--core`/`--dev` to import-map entries.
pub fn core_source(core: Option<&str>, dev: bool) -> Result<CoreSource> {
    if dev {
        let root = contributor_checkout()?.ok_or_else(|| {
            CliError::Usage(
                "--dev links the app to a Krepis checkout, and there is none around the \
                 current directory; run it inside the checkout or set KREPIS_HOME"
                    .into(),
            )
        })?;
        return local_core(&root.join("packages/core"));
    }
    let Some(core) = core else {
        return Ok(published_core());
    };
    let mut imports = Map::new();
    if core.starts_with("jsr:") {
        // Deno maps `@krepis/core/http` to the package's `./http` export by itself.
        imports.insert("@krepis/core".into(), json!(core));
        return Ok(CoreSource {
            imports,
            lint_plugin: None,
        });
    }
    if core.contains("://") {
        let base = core
            .strip_suffix("/mod.ts")
            .unwrap_or(core)
            .trim_end_matches('/');
        imports.insert("@krepis/core".into(), json!(format!("{base}/mod.ts")));
        for (sub, file) in URL_SUBPATHS {
            imports.insert(
                format!("@krepis/core/{sub}"),
                json!(format!("{base}/{file}")),
            );
        }
        return Ok(CoreSource {
            imports,
            lint_plugin: None,
        });
    }
    local_core(Path::new(core))
}

fn local_core(path: &Path) -> Result<CoreSource> {
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let missing = || {
        CliError::Usage(format!(
            "--core {}: no @krepis/core package there (expected a checkout's packages/core or its mod.ts)",
            path.display()
        ))
    };
    let dir = dir.canonicalize().map_err(|_| missing())?;
    let config: Value = fs::read_to_string(dir.join("deno.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(missing)?;
    // Every export gets its own entry: a prefix mapping cannot add the `.ts` of `./http`.
    let mut imports = Map::new();
    match config.get("exports") {
        Some(Value::Object(exports)) => {
            for (key, target) in exports {
                let Some(target) = target.as_str() else {
                    continue;
                };
                let name = match key.strip_prefix('.') {
                    Some(sub) => format!("@krepis/core{sub}"),
                    None => continue,
                };
                let file = dir.join(target.trim_start_matches("./"));
                imports.insert(name, json!(file.display().to_string()));
            }
        }
        Some(Value::String(target)) => {
            let file = dir.join(target.trim_start_matches("./"));
            imports.insert("@krepis/core".into(), json!(file.display().to_string()));
        }
        _ => {}
    }
    if !imports.contains_key("@krepis/core") {
        return Err(missing());
    }
    let plugin = dir
        .parent()
        .map(|packages| packages.join("smart-gen/lint_plugin.ts"))
        .filter(|p| p.is_file());
    Ok(CoreSource {
        imports,
        lint_plugin: plugin.map(|p| p.display().to_string()),
    })
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
                "command": format!(
                    "deno check main.ts main_test.ts && DENO_V8_FLAGS={LINT_V8_FLAGS} deno lint && krepis check"
                )
            }
        },
        "imports": {}
    });
    let mut imports = core.imports.clone();
    imports.insert("zod".into(), json!("npm:zod@^4.6.7"));
    config["imports"] = Value::Object(imports);
    if let Some(plugin) = &core.lint_plugin {
        config["lint"] = json!({ "plugins": [plugin] });
    }
    config
}

/// The app's files: `deno.json` and the template.
fn app_files(core: &CoreSource) -> Result<Vec<(String, String)>> {
    let config = serde_json::to_string_pretty(&deno_json(core))
        .map_err(|e| CliError::Failed(format!("cannot render deno.json: {e}")))?;
    let mut files = vec![("deno.json".to_string(), format!("{config}\n"))];
    files.extend(FILES.iter().map(|(p, c)| (p.to_string(), c.to_string())));
    Ok(files)
}

/// The changes scaffolding makes in `dir`, and the existing files they
/// replace with other content.
fn plan(dir: &Path, files: &[(String, String)]) -> (Vec<FileChange>, Vec<String>) {
    let mut changed = Vec::new();
    let changes = files
        .iter()
        .filter_map(|(rel, content)| {
            let old = fs::read(dir.join(rel)).ok();
            if old.as_deref() == Some(content.as_bytes()) {
                return None; // already there, exactly
            }
            if old.is_some() {
                changed.push(rel.clone());
            }
            Some(FileChange {
                path: rel.clone(),
                content: content.as_bytes().to_vec(),
                expected: Some(Expected::of(old.as_deref())),
            })
        })
        .collect();
    (changes, changed)
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
    // A load failure is one line with what to do, not an uncaught stack trace.
    fetch.args([
        "eval",
        "try { \
           const m = await import(\"@krepis/core/native\").catch(() => import(\"@krepis/core\")); \
           const k = await m.kernelInfo(); console.log(`${k.source} (${k.version}, ${k.target})`); \
         } catch (e) { console.error(e instanceof Error ? e.message : String(e)); Deno.exit(1); }",
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
    if args.dir.exists() && !args.dir.is_dir() {
        return Err(CliError::Usage(format!(
            "{} exists and is not a directory",
            args.dir.display()
        )));
    }
    let core = core_source(args.core.as_deref(), args.dev)?;
    let files = app_files(&core)?;
    let (changes, changed) = plan(&args.dir, &files);
    if args.dry_run {
        print!("{}", writes::diff(&args.dir, &changes));
        for change in &changes {
            println!("would write {}", change.path);
        }
        return Ok(());
    }
    if !changed.is_empty() && !args.force {
        return Err(CliError::Usage(format!(
            "{} already has files with other content: {}; nothing was written \
             (--dry-run shows the differences, --force replaces them and `krepis undo` restores them)",
            args.dir.display(),
            changed.join(", ")
        )));
    }
    fs::create_dir_all(&args.dir).map_err(|e| CliError::io(&args.dir, e))?;
    if !changes.is_empty() {
        writes::apply(&args.dir, &format!("init {}", args.dir.display()), &changes)?;
    }
    for rel in &changed {
        eprintln!("replaced {rel} (`krepis undo` restores it)");
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
    fn the_default_core_is_the_versioned_jsr_package() {
        let core = core_source(None, false).unwrap();
        assert_eq!(
            core.imports["@krepis/core"],
            json!(format!("jsr:@krepis/core@^{VERSION}"))
        );
        let config = deno_json(&core).to_string();
        assert!(
            !config.contains("/work/") && !config.contains("packages/"),
            "{config}"
        );
        assert_eq!(
            deno_json(&core)["lint"]["plugins"][0],
            json!(format!("jsr:@krepis/smart-gen@^{VERSION}/lint-plugin"))
        );
        let check = deno_json(&core)["tasks"]["check"]["command"].to_string();
        assert!(
            check.contains(&format!("DENO_V8_FLAGS={LINT_V8_FLAGS} deno lint")),
            "{check}"
        );
    }

    #[test]
    fn a_checkout_core_maps_every_export_and_the_lint_plugin() {
        let core_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packages/core");
        let core = core_source(Some(core_dir.to_str().unwrap()), false).unwrap();
        let main = core.imports["@krepis/core"].as_str().unwrap();
        assert!(main.ends_with("packages/core/mod.ts"), "{main}");
        assert!(Path::new(main).is_file());
        for target in core.imports.values() {
            assert!(Path::new(target.as_str().unwrap()).is_file(), "{target}");
        }
        assert!(
            core.lint_plugin
                .unwrap()
                .ends_with("smart-gen/lint_plugin.ts")
        );
    }

    #[test]
    fn a_url_core_maps_the_same_subpaths_as_a_checkout() {
        let core_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packages/core");
        let local = core_source(Some(core_dir.to_str().unwrap()), false).unwrap();
        let url = core_source(Some("https://example.test/krepis/core/"), false).unwrap();
        let keys = |c: &CoreSource| {
            let mut k: Vec<String> = c.imports.keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(&url),
            keys(&local),
            "update URL_SUBPATHS to packages/core/deno.json"
        );
        assert_eq!(
            url.imports["@krepis/core/http"],
            json!("https://example.test/krepis/core/http.ts")
        );
    }

    #[test]
    fn missing_core_is_a_usage_error() {
        let err = core_source(Some("/definitely/not/here"), false).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn files_with_other_content_are_named_and_identical_ones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let files = app_files(&published_core()).unwrap();
        let (changes, changed) = plan(dir.path(), &files);
        assert_eq!(changes.len(), files.len());
        assert!(changed.is_empty());
        fs::create_dir_all(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("main.ts"), "// mine\n").unwrap();
        let app = files.iter().find(|(p, _)| p == "src/app.ts").unwrap();
        fs::write(dir.path().join("src/app.ts"), &app.1).unwrap();
        let (changes, changed) = plan(dir.path(), &files);
        assert_eq!(changed, ["main.ts"]);
        assert_eq!(changes.len(), files.len() - 1, "src/app.ts is unchanged");
    }
}
