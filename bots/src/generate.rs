//! `headshot generate SELFIE...`: the studio generator on files, without any chat.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use headshot::Config;
use headshot::models::studio::{OutputFormat, Studio, contact_sheet};
use headshot::models::{Catalog, Crop, Framing, Generator, Mode, Progress, Request, Style};

/// Options of the command.
#[derive(Debug, Clone)]
pub struct Options {
    pub selfies: Vec<PathBuf>,
    /// Style name.
    pub style: Option<String>,
    /// Mode (chooses the mode's first style when no style is given).
    pub mode: Option<Mode>,
    /// Framings.
    pub crop: Option<Crop>,
    pub variants: u32,
    /// Output directory.
    pub out: PathBuf,
    /// PNG instead of JPEG.
    pub png: bool,
    /// JSON report on stdout.
    pub json: bool,
    /// Also write a contact sheet of every style.
    pub contact_sheet: Option<PathBuf>,
    /// `studio` or `diffusion`.
    pub engine: String,
    /// Denoising steps for the diffusion engine (default: the configuration's).
    pub steps: Option<usize>,
}

/// Runs the command; exits 1 if any selfie was refused.
pub fn run(config: &Config, catalog: &Catalog, options: Options) -> anyhow::Result<ExitCode> {
    let style = pick_style(catalog, &options)?;
    let format = if options.png {
        OutputFormat::Png
    } else {
        OutputFormat::Jpeg
    };
    let studio =
        Studio::load(Some(&crate::setup::weights_dir(config)), config.decode_limits())?.with_format(format);
    let diffusion = if options.engine == "diffusion" {
        let dir = crate::weights::diffusion_dir(config).context(
            "no diffusion weights: run `headshot models fetch sd15-inpaint` or set diffusion.weights_dir",
        )?;
        let mut settings = crate::serve::diffusion_settings(config);
        settings.steps = options.steps.unwrap_or(settings.steps);
        let base = Studio::load(Some(&crate::setup::weights_dir(config)), config.decode_limits())?
            .with_format(format);
        Some(headshot::models::diffusion::DiffusionEngine::load(
            base,
            &dir,
            &headshot::models::diffusion::device(),
            settings,
        )?)
    } else {
        None
    };
    let engine: &dyn Generator = match &diffusion {
        Some(d) => d,
        None => &studio,
    };
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    let mut report = Vec::new();
    let mut refused = false;
    let mut tiles = Vec::new();
    for path in &options.selfies {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let intake = match studio.intake(&bytes) {
            Ok(intake) => intake,
            Err(e) => {
                eprintln!("{}: {}", path.display(), headshot::text::intake_refusal(&e));
                report.push(serde_json::json!({ "selfie": path, "refused": e.to_string() }));
                refused = true;
                continue;
            }
        };
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "selfie".into());
        let request = |style: &Style, crop: Crop, variants: u32| Request {
            selfies: vec![intake.clean.clone()],
            primary: 0,
            stem: stem.clone(),
            style: style.clone(),
            crop,
            variants,
            first_variant: 1,
            seed: 0,
        };
        let crop = options.crop.unwrap_or(style.default_crop);
        let generated = engine
            .generate(
                &request(style, crop, options.variants),
                &mut progress_printer(path),
                &AtomicBool::new(false),
            )
            .with_context(|| format!("generating from {}", path.display()))?;
        finish_progress();
        let mut files = Vec::new();
        for output in &generated.outputs {
            let target = options.out.join(&output.file_name);
            std::fs::write(&target, &output.bytes)
                .with_context(|| format!("cannot write {}", target.display()))?;
            files.push(serde_json::json!({
                "file": target, "width": output.width, "height": output.height, "checks": output.checks,
            }));
        }
        if !options.json {
            println!("{}: {}", path.display(), generated.checklist);
            for f in &files {
                println!("  {}", f["file"].as_str().unwrap_or_default());
            }
        }
        report
            .push(serde_json::json!({ "selfie": path, "checklist": generated.checklist, "outputs": files }));
        if options.contact_sheet.is_some() {
            for s in catalog.styles() {
                let g =
                    studio.generate(&request(s, Crop::Master, 1), &mut |_| {}, &AtomicBool::new(false))?;
                if let Some(master) = g.outputs.iter().find(|o| o.framing == Framing::Master) {
                    let img = image::load_from_memory(&master.bytes)?.to_rgb8();
                    tiles.push((format!("{stem} {}", s.name), img));
                }
            }
        }
    }
    if let Some(sheet) = &options.contact_sheet {
        contact_sheet(&tiles, 256)
            .save(sheet)
            .with_context(|| format!("cannot write {}", sheet.display()))?;
        eprintln!("contact sheet: {}", sheet.display());
    }
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(if refused {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn pick_style<'a>(catalog: &'a Catalog, options: &Options) -> anyhow::Result<&'a Style> {
    match (&options.style, options.mode) {
        (Some(name), _) => catalog
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("{}", headshot::text::unknown_style(name, catalog))),
        (None, Some(mode)) => catalog.of_mode(mode).next().context("no style of that mode"),
        (None, None) => Ok(catalog.default_style()),
    }
}

/// Prints `stage k/n` on one updating line when stderr is a terminal.
fn progress_printer(path: &Path) -> impl FnMut(Progress) + '_ {
    let tty = std::io::stderr().is_terminal();
    move |p: Progress| {
        if tty {
            let bar = headshot::text::progress_bar(p.step, p.steps.max(1), 20);
            eprint!("\r{} {bar} {:<12}", path.display(), p.stage);
            let _ = std::io::stderr().flush();
        }
    }
}

fn finish_progress() {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
}
