//! `headshot generate SELFIE...`: the studio generator on files, without any chat.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use headshot::Config;
use headshot::models::studio::{OutputFormat, Studio, contact_sheet};
use headshot::models::{Catalog, Crop, Framing, GenerateError, Generator, Mode, Progress, Request, Style};

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
    /// Generate the hard cases built from each selfie instead of the selfie itself.
    pub hard_cases: bool,
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
    if options.hard_cases {
        return hard_cases(&studio, engine, style, &options);
    }
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
    write_sheet_and_report(&options, &tiles, &report)?;
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

/// The contact sheet (if asked for) and the JSON report (with `--json`).
fn write_sheet_and_report(
    options: &Options,
    tiles: &[(String, image::RgbImage)],
    report: &[serde_json::Value],
) -> anyhow::Result<()> {
    if let Some(sheet) = &options.contact_sheet {
        contact_sheet(tiles, 256)
            .save(sheet)
            .with_context(|| format!("cannot write {}", sheet.display()))?;
        eprintln!("contact sheet: {}", sheet.display());
    }
    if options.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(())
}

/// `--hard-cases`: every hard case of every selfie through `engine` in `style` (master
/// framing); prints one line per case with the matte error and the checklist.
fn hard_cases(
    studio: &Studio,
    engine: &dyn Generator,
    style: &Style,
    options: &Options,
) -> anyhow::Result<ExitCode> {
    use headshot::models::decode::encode_png;
    use headshot::models::studio::{Matting, hardcase};
    let mut tiles = Vec::new();
    let mut report = Vec::new();
    for path in &options.selfies {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let photo = headshot::models::decode::decode(&bytes, studio.limits())
            .with_context(|| format!("cannot decode {}", path.display()))?
            .image;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "selfie".into());
        let cases = hardcase::build(studio, &photo)
            .map_err(|e| anyhow::anyhow!("{}: cannot build hard cases: {e}", path.display()))?;
        for case in &cases {
            let upload = encode_png(&case.image);
            let label = format!("{stem} {}", case.name);
            let generated = studio.intake(&upload).and_then(|intake| {
                let request = Request {
                    selfies: vec![intake.clean],
                    primary: 0,
                    stem: stem.clone(),
                    style: style.clone(),
                    crop: options.crop.unwrap_or(Crop::Both),
                    variants: 1,
                    first_variant: 1,
                    seed: 0,
                };
                match engine.generate(&request, &mut |_| {}, &AtomicBool::new(false)) {
                    Ok(generated) => Ok(Ok(generated)),
                    Err(GenerateError::Intake(e)) => Err(e),
                    Err(e) => Ok(Err(e)),
                }
            });
            // Refused at intake or by the pipeline: said, and the case's photo on the sheet.
            let generated = match generated {
                Ok(Ok(generated)) => generated,
                Ok(Err(e)) => return Err(anyhow::Error::new(e).context(format!("generating {label}"))),
                Err(e) => {
                    let text = headshot::text::intake_refusal(&e);
                    if !options.json {
                        println!("{label}: refused: {text}");
                    }
                    report.push(serde_json::json!({ "selfie": path, "case": case.name, "refused": text }));
                    tiles.push((format!("{label}: refused"), case.image.clone()));
                    continue;
                }
            };
            // The matte error of the matte before this pipeline had subject isolation and a
            // trimap, and of each matting choice now.
            let methods = [
                ("before", hardcase::Method::Baseline),
                ("guided", hardcase::Method::Studio(Matting::Guided)),
                ("closed-form", hardcase::Method::Studio(Matting::ClosedForm)),
            ];
            let mut errors = Vec::new();
            for (name, method) in methods {
                match hardcase::evaluate(studio, case, method).result {
                    Ok((_, e)) => errors.push((name, e)),
                    Err(e) => anyhow::bail!("{label}: {e}"),
                }
            }
            if !options.json {
                let figures: Vec<String> = errors
                    .iter()
                    .map(|(name, e)| format!("{name} SAD {:.2}k grad {:.2}k", e.sad, e.gradient))
                    .collect();
                println!("{label}: {} | {}", figures.join(", "), generated.checklist);
            }
            let matte: serde_json::Map<String, serde_json::Value> = errors
                .iter()
                .map(|(name, e)| {
                    let v = serde_json::json!({ "sad": e.sad, "mse": e.mse, "gradient": e.gradient });
                    (name.to_string(), v)
                })
                .collect();
            report.push(serde_json::json!({
                "selfie": path, "case": case.name, "matte_error": matte, "checklist": generated.checklist,
            }));
            if let Some(master) = generated.outputs.iter().find(|o| o.framing == Framing::Master) {
                tiles.push((label, image::load_from_memory(&master.bytes)?.to_rgb8()));
            }
        }
    }
    write_sheet_and_report(options, &tiles, &report)?;
    Ok(ExitCode::SUCCESS)
}
