//! `krepis plugin keygen/check/sign/verify` on real directories (sign and check run the
//! TypeScript analyser under Deno, as users run them).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn krepis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_krepis"))
        .args(args)
        .env("KREPIS_HOME", concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn plugin(dir: &Path, source: &str) {
    fs::write(
        dir.join("krepis.plugin.json"),
        r#"{ "name": "cli-test", "version": "0.1.0", "entry": "mod.ts", "kind": "command",
             "permissions": { "env": ["NAME"] } }"#,
    )
    .unwrap();
    fs::write(dir.join("mod.ts"), source).unwrap();
}

#[test]
fn keygen_writes_a_pair_and_never_overwrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let out = krepis(&["plugin", "keygen", arg(&key)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = fs::read_to_string(dir.path().join("k.pub")).unwrap();
    assert!(
        public.starts_with("krepis-plugin-public-key ed25519 "),
        "{public}"
    );
    let secret = fs::read(&key).unwrap();
    let again = krepis(&["plugin", "keygen", arg(&key)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("keys are never overwritten"));
    assert_eq!(fs::read(&key).unwrap(), secret);
}

#[test]
fn sign_then_verify_and_a_changed_byte_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    assert!(krepis(&["plugin", "keygen", arg(&key)]).status.success());
    let pub_key = dir.path().join("k.pub");
    let plug = dir.path().join("plug");
    fs::create_dir(&plug).unwrap();
    plugin(
        &plug,
        "export default () => ({ output: Deno.env.get(\"NAME\") });\n",
    );

    let sign = krepis(&["plugin", "sign", arg(&plug), "--key", arg(&key)]);
    assert!(sign.status.success(), "{}", text(&sign.stderr));
    assert!(text(&sign.stdout).starts_with("signed cli-test 0.1.0 (2 files)"));
    let verify = krepis(&["plugin", "verify", arg(&plug), "--trust", arg(&pub_key)]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));

    fs::write(
        plug.join("mod.ts"),
        "export default () => ({ output: 1 });\n",
    )
    .unwrap();
    let verify = krepis(&["plugin", "verify", arg(&plug), "--trust", arg(&pub_key)]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify.stderr).contains("refused: changed file mod.ts"),
        "{}",
        text(&verify.stderr)
    );
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = krepis(&["plugin", "check", arg(&dir.path().join("nope"))]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("is not a directory"));

    fs::write(dir.path().join("krepis.plugin.json"), "{ \"name\": 1 }").unwrap();
    let invalid = krepis(&["plugin", "check", arg(dir.path())]);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        text(&invalid.stderr).contains("krepis.plugin.json: invalid type"),
        "{}",
        text(&invalid.stderr)
    );

    let unsigned = dir.path().join("unsigned");
    fs::create_dir(&unsigned).unwrap();
    plugin(&unsigned, "export default () => ({});\n");
    let key = dir.path().join("k");
    assert!(krepis(&["plugin", "keygen", arg(&key)]).status.success());
    let verify = krepis(&[
        "plugin",
        "verify",
        arg(&unsigned),
        "--trust",
        &format!("{}.pub", arg(&key)),
    ]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(text(&verify.stderr).contains("is not signed"));
    let no_trust = krepis(&["plugin", "verify", arg(&unsigned)]);
    assert_eq!(no_trust.status.code(), Some(2));
}
