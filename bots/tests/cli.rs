//! The `headshot` binary as an operator uses it: config check, styles, data commands, generate
//! and inspect on the public-domain fixture photos.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn headshot(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headshot"))
        .args(args)
        .current_dir(dir)
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env_remove("DISCORD_TOKEN")
        .env_remove("HEADSHOT_WEB_BIND")
        .env_remove("HEADSHOT_ADMIN_TOKEN")
        .env_remove("HEADSHOT_WEB_ENABLED")
        .env("HEADSHOT_DATA_DIR", dir.join("data"))
        .output()
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/tests/fixtures")
        .join(name)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn config_check_passes_without_tokens_and_names_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ok = headshot(dir.path(), &["config", "check"]);
    assert!(ok.status.success());
    assert!(stdout(&ok).contains("TELEGRAM_BOT_TOKEN"));
    std::fs::write(dir.path().join("bad.toml"), "[jobs]\nworkers = 0\n").unwrap();
    let bad = headshot(dir.path(), &["--config", "bad.toml", "config", "check"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("jobs.workers") && err.contains("bad.toml"), "{err}");
}

#[test]
fn styles_lists_the_catalog_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = headshot(dir.path(), &["styles", "--json"]);
    let styles: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(styles.as_array().unwrap().len() >= 12);
}

#[test]
fn serve_without_any_front_end_says_what_to_configure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("off.toml"), "[web]\nenabled = false\n").unwrap();
    let out = headshot(dir.path(), &["--config", "off.toml", "serve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TELEGRAM_BOT_TOKEN"));
}

#[test]
fn config_check_refuses_a_public_web_chat_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.toml"),
        "[web]\nenabled = true\nbind = \"0.0.0.0:8080\"\n",
    )
    .unwrap();
    let open = headshot(dir.path(), &["--config", "web.toml", "config", "check"]);
    assert!(!open.status.success());
    assert!(String::from_utf8_lossy(&open.stderr).contains("web.allow_remote"));
    std::fs::write(
        dir.path().join("web.toml"),
        "[web]\nenabled = true\nbind = \"0.0.0.0:8080\"\nallow_remote = true\n",
    )
    .unwrap();
    let no_token = headshot(dir.path(), &["--config", "web.toml", "config", "check"]);
    assert!(String::from_utf8_lossy(&no_token.stderr).contains("HEADSHOT_WEB_TOKEN"));
    let local = std::fs::write(dir.path().join("local.toml"), "[web]\nenabled = true\n");
    local.unwrap();
    let ok = headshot(dir.path(), &["--config", "local.toml", "config", "check"]);
    assert!(ok.status.success());
    assert!(
        stdout(&ok).contains("web: chat at http://127.0.0.1:8080/"),
        "{}",
        stdout(&ok)
    );
}

#[test]
fn a_damaged_store_names_the_restore_command_and_restore_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    assert!(headshot(dir.path(), &["data", "stats"]).status.success());
    assert!(
        headshot(dir.path(), &["data", "backup", "b.bin"])
            .status
            .success()
    );
    let db = dir.path().join("data").join("db");
    let length = std::fs::metadata(&db).unwrap().len() as usize;
    // Noise over the whole log, and a log cut short.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    for (n, what) in ["noise", "truncated"].into_iter().enumerate() {
        if what == "noise" {
            std::fs::write(&db, &noise).unwrap();
        } else {
            let bytes = std::fs::read(&db).unwrap();
            std::fs::write(&db, &bytes[..bytes.len().min(100)]).unwrap();
        }
        let stats = headshot(dir.path(), &["data", "stats"]);
        let err = String::from_utf8_lossy(&stats.stderr);
        assert!(!stats.status.success(), "{what}: {err}");
        assert!(err.contains("headshot data restore"), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        // Restore moves the damaged store aside and fills a new one from the backup.
        let restored = headshot(dir.path(), &["data", "restore", "b.bin"]);
        let err = String::from_utf8_lossy(&restored.stderr);
        assert!(restored.status.success(), "{what}: {err}");
        assert!(err.contains(&format!("data.damaged-{}", n + 1)), "{what}: {err}");
        assert!(dir.path().join(format!("data.damaged-{}", n + 1)).is_dir());
        assert!(
            headshot(dir.path(), &["data", "stats"]).status.success(),
            "{what}"
        );
    }
}

#[test]
fn data_stats_backup_and_restore_work_on_a_stopped_store() {
    let dir = tempfile::tempdir().unwrap();
    let stats = headshot(dir.path(), &["data", "stats"]);
    assert!(
        stats.status.success(),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(v["jobs"], 0);
    assert!(
        headshot(dir.path(), &["data", "backup", "b.bin"])
            .status
            .success()
    );
    let restored = headshot(dir.path(), &["data", "restore", "b.bin"]);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let bad = headshot(dir.path(), &["data", "export", "nobody"]);
    assert!(!bad.status.success());
}

#[test]
fn generate_writes_named_outputs_and_refuses_a_cat() {
    let dir = tempfile::tempdir().unwrap();
    let hopper = fixture("grace_hopper.jpg");
    let out = headshot(
        dir.path(),
        &[
            "generate",
            hopper.to_str().unwrap(),
            "--style",
            "tech",
            "--crop",
            "both",
            "--out",
            "out",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report[0]["checklist"].as_str().unwrap().contains("face"));
    for name in ["grace_hopper-tech-4x5.jpg", "grace_hopper-tech-1x1.jpg"] {
        let img = image::open(dir.path().join("out").join(name)).unwrap();
        let (w, h) = (img.width(), img.height());
        if name.contains("4x5") {
            assert_eq!(w * 5, h * 4, "{name} is 4:5");
        } else {
            assert_eq!(w, h, "{name} is square");
        }
    }
    let cat = fixture("chelsea.png");
    let refused = headshot(dir.path(), &["generate", cat.to_str().unwrap(), "--out", "out"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("couldn't find a face"));
}

#[test]
fn inspect_prints_faces_in_original_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let astronaut = fixture("astronaut.png");
    let out = headshot(
        dir.path(),
        &["inspect", astronaut.to_str().unwrap(), "--overlay", "o.png"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(512), Some(512))
    );
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1);
    let face = &faces[0];
    for key in ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"] {
        assert!(face["landmarks"][key]["x"].as_f64().unwrap() > face["box"]["x"].as_f64().unwrap());
    }
    assert!(v["mask_coverage"].as_f64().unwrap() > 0.2);
    assert!(dir.path().join("o.png").exists());
}

#[test]
fn generate_with_the_diffusion_engine_and_models_commands() {
    let dir = tempfile::tempdir().unwrap();
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/diffusion");
    let astronaut = fixture("astronaut.png");
    let run = |config: &str, args: &[&str]| {
        std::fs::write(dir.path().join("d.toml"), config).unwrap();
        Command::new(env!("CARGO_BIN_EXE_headshot"))
            .args(["--config", "d.toml"])
            .args(args)
            .current_dir(dir.path())
            .env("HEADSHOT_DIFFUSION_WEIGHTS", &weights)
            .env("HF_HOME", dir.path().join("hf"))
            .env("HEADSHOT_DATA_DIR", dir.path().join("data"))
            .output()
            .unwrap()
    };
    let gen_args = [
        "generate",
        astronaut.to_str().unwrap(),
        "--engine",
        "diffusion",
        "--steps",
        "2",
        "--crop",
        "4:5",
        "--out",
        "out",
    ];
    // At 512 px the tiny test model's attention would need hundreds of GB: refused up front.
    let big = run("[diffusion]\nwidth = 512\n", &gen_args);
    assert!(!big.status.success());
    assert!(String::from_utf8_lossy(&big.stderr).contains("not enough memory"));
    let ok = run("[diffusion]\nwidth = 64\n", &gen_args);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let master = dir.path().join("out/astronaut-corporate-4x5.jpg");
    let img = image::open(&master).unwrap();
    assert_eq!(img.width() * 5, img.height() * 4);
    let list = run("", &["models", "list"]);
    assert!(list.status.success());
    let text = stdout(&list);
    assert!(
        text.contains("sd15-inpaint") && text.contains("not fetched"),
        "{text}"
    );
    assert!(
        text.contains("configured (diffusion.weights_dir)") && text.contains(": complete"),
        "{text}"
    );
    let fetch = run("", &["models", "fetch", "sd15-inpaint"]);
    assert!(!fetch.status.success());
    assert!(
        String::from_utf8_lossy(&fetch.stderr).contains("offline"),
        "{}",
        String::from_utf8_lossy(&fetch.stderr)
    );
    let unknown = run("", &["models", "fetch", "nope"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("known: sd15-inpaint, sdxl-inpaint"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn device_show_and_the_parity_check_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let show = headshot(dir.path(), &["device", "show", "--json"]);
    assert!(show.status.success());
    let shown: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    assert_eq!(shown["device"]["id"], "cpu");
    assert_eq!(shown["cuda_build"], false, "the test build has no CUDA");
    let plain = headshot(dir.path(), &["device", "show"]);
    assert!(stdout(&plain).contains("no CUDA support"), "{}", stdout(&plain));

    let nothing = headshot(dir.path(), &["device", "check"]);
    assert!(!nothing.status.success());
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("nothing to check"));

    // The tiny model against diffusers' outputs: every network within the CPU's f32 bound.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/diffusion");
    let check = |model: &Path| {
        let out = headshot(
            dir.path(),
            &[
                "device",
                "check",
                "--parity",
                model.to_str().unwrap(),
                "--cpu",
                "--json",
            ],
        );
        let report: serde_json::Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&out), String::from_utf8_lossy(&out.stderr)));
        (out.status.success(), report)
    };
    let (ok, report) = check(&model);
    assert!(ok, "{report}");
    let rows = report["parity"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "text encoder",
            "UNet",
            "VAE encoder",
            "VAE decoder",
            "3-step loop"
        ]
    );
    for row in rows {
        assert_eq!(row["ok"], true, "{row}");
        assert!(row["error"].as_f64().unwrap() <= row["tolerance"].as_f64().unwrap());
    }

    // A UNet whose output convolution is 5% off: the check names it and fails.
    let broken = dir.path().join("broken");
    copy_dir(&model, &broken);
    let file = broken.join("unet/diffusion_pytorch_model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &candle_core::Device::Cpu).unwrap();
    let w = tensors.get_mut("conv_out.weight").unwrap();
    *w = (&*w * 1.05).unwrap();
    candle_core::safetensors::save(&tensors, &file).unwrap();
    let (ok, report) = check(&broken);
    assert!(!ok, "{report}");
    assert_eq!(report["ok"], false);
    let failed: Vec<&str> = report["parity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ok"] == false)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["UNet", "3-step loop"], "{report}");
}
