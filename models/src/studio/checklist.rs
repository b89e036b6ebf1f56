//! The headshot checklist, measured on every output: each product rule of `docs/headshot-rules.md`
//! becomes a number, a threshold and a verdict. Portrait styles are held to their own rules
//! (framing and face sharpness), not to the backdrop and light they deliberately break.
//!
//! Geometry is read from the output itself where it can be (the top of the hair from the
//! matte, luminance and sharpness from the pixels) and from the detector's landmarks carried
//! through the framing transform otherwise; the tests check the same composition again with an
//! independent detection on the encoded outputs.

use image::RgbImage;

use super::defects;
use super::framing::{Bands, MAX_UPSCALE};
use super::intake::{MIN_SHARPNESS, SIMILAR_AREA};
use super::matte::Scene;
use super::measure::luma;
use crate::generator::{Check, Framing};
use crate::style::Mode;

/// Least acceptable darker/brighter cheek ratio (linear light) in a headshot.
pub const MIN_BALANCE: f32 = 0.8;
/// Least acceptable mean luma of the backdrop's top corners in a headshot.
pub const MIN_BACKDROP: f32 = 170.0;
/// Largest acceptable residual roll after alignment, degrees.
pub const MAX_ROLL: f32 = 3.0;
/// Largest acceptable yaw in a headshot ("small angle changes only"), degrees.
pub const MAX_YAW: f32 = 20.0;
/// Items shown together as "clean cut-out" in the chat line while they pass.
const MATTE_LINE: [&str; 4] = ["stray_matte", "holes", "halo", "bottom_body"];
/// Size of each top-corner patch, as a fraction of the width and of the height.
const CORNER: f32 = 0.1;

/// Measures `image` (the rendered output of `scene`) for a style of `mode`.
pub fn measure(scene: &Scene, image: &RgbImage, mode: Mode) -> Vec<Check> {
    let b = scene.frame.bands();
    let (w, h) = (scene.width() as f32, scene.height() as f32);
    let pct = |v: f32| 100.0 * v;
    let band = |(lo, hi): (f32, f32)| format!("{:.0}%..{:.0}%", pct(lo), pct(hi));
    let within = |v: f32, (lo, hi): (f32, f32)| v >= lo - 5e-4 && v <= hi + 5e-4;
    let eyes = scene.eyes();
    let hair = hair_top(scene);
    let chin = eyes.y + scene.geometry.chin;
    let mut checks = vec![single_face(scene)];
    let eye_line = eyes.y / h;
    checks.push(check(
        "eye_line",
        pct(eye_line),
        band(b.eye_line),
        within(eye_line, b.eye_line),
    ));
    if scene.frame.crown_cropped {
        // The photo's top edge cut the head: the frame crops the crown on purpose, keeping
        // the cut outside the picture.
        checks.push(check(
            "head_top",
            0.0,
            "crown cropped by the photo".into(),
            hair <= 0.5,
        ));
    } else if let Some(range) = b.hair_top.filter(|_| scene.frame.framing == Framing::Master) {
        let v = hair / h;
        checks.push(check("head_top", pct(v), band(range), within(v, range)));
    }
    if let Some(range) = b.chin {
        let v = chin / h;
        checks.push(check("chin", pct(v), band(range), within(v, range)));
    }
    let head = (chin - hair) / h;
    checks.push(check("head_ratio", pct(head), band(b.head), within(head, b.head)));
    checks.push(centring(scene, &b, w));
    let chip = scene.face.chip(image);
    let sharpness = chip.sharpness();
    checks.push(check(
        "sharpness",
        sharpness,
        format!(">= {MIN_SHARPNESS:.0}"),
        sharpness >= MIN_SHARPNESS,
    ));
    checks.extend(defects::measure(scene, image, mode == Mode::Headshot));
    if mode == Mode::Headshot {
        let mean = corners(image, scene);
        checks.push(check(
            "backdrop_brightness",
            mean,
            format!(">= {MIN_BACKDROP:.0}"),
            mean >= MIN_BACKDROP,
        ));
        let balance = chip.balance();
        checks.push(check(
            "light_balance",
            balance,
            format!(">= {MIN_BALANCE:.2}"),
            balance >= MIN_BALANCE,
        ));
        let l = scene.faces[0].landmarks;
        let roll = l.roll_degrees().abs();
        checks.push(check(
            "roll",
            roll,
            format!("<= {MAX_ROLL:.0} deg"),
            roll <= MAX_ROLL,
        ));
        let yaw = scene.geometry.yaw_degrees.abs();
        checks.push(check("yaw", yaw, format!("<= {MAX_YAW:.0} deg"), yaw <= MAX_YAW));
    }
    let scale = scene.frame.scale;
    checks.push(check(
        "upscale",
        scale,
        format!("<= {MAX_UPSCALE:.0}x"),
        scale <= MAX_UPSCALE + 1e-4,
    ));
    checks
}

fn check(name: &str, value: f32, threshold: String, pass: bool) -> Check {
    Check {
        name: name.into(),
        value,
        threshold,
        pass,
    }
}

/// Faces in the frame of a size similar to the subject's (background faces much smaller than
/// the subject do not compete with it).
fn single_face(scene: &Scene) -> Check {
    let (w, h) = (scene.width() as f32, scene.height() as f32);
    let subject = scene.faces[0].bbox.area();
    let count = scene
        .faces
        .iter()
        .filter(|f| {
            let c = f.bbox.center();
            c.x >= 0.0 && c.y >= 0.0 && c.x < w && c.y < h && f.bbox.area() >= SIMILAR_AREA * subject
        })
        .count();
    check("single_face", count as f32, "= 1".into(), count == 1)
}

fn centring(scene: &Scene, b: &Bands, w: f32) -> Check {
    let centre = scene.eyes().x + scene.geometry.center_x;
    let off = (centre - w / 2.0).abs() / w;
    check(
        "centring",
        100.0 * off,
        format!("<= {:.0}%", 100.0 * b.centring),
        off <= b.centring + 5e-4,
    )
}

/// The top of the hair in the output: the highest row where the matte is at least half
/// person, over the middle of the head.
fn hair_top(scene: &Scene) -> f32 {
    let (w, h) = (scene.width() as usize, scene.height() as usize);
    let cx = scene.eyes().x + scene.geometry.center_x;
    let half = 0.5 * scene.face.unit;
    let (x0, x1) = (
        (cx - half).max(0.0) as usize,
        ((cx + half).max(0.0) as usize).min(w),
    );
    let eye_row = (scene.eyes().y.max(0.0) as usize).min(h);
    (0..eye_row)
        .find(|&y| (x0..x1).any(|x| scene.alpha.data[y * w + x] >= 0.5))
        .map_or(scene.eyes().y, |y| y as f32)
}

/// Mean luma of the top-corner patches, over backdrop pixels (all pixels if the person fills
/// them).
fn corners(image: &RgbImage, scene: &Scene) -> f32 {
    let (w, h) = image.dimensions();
    let (pw, ph) = (
        ((w as f32 * CORNER) as u32).max(1),
        ((h as f32 * CORNER) as u32).max(1),
    );
    let mut backdrop = Vec::new();
    let mut all = Vec::new();
    for y in 0..ph {
        for x in (0..pw).chain(w - pw..w) {
            let p = image.get_pixel(x, y);
            let v = luma(f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
            all.push(v);
            if scene.alpha.data[(y * w + x) as usize] < 0.05 {
                backdrop.push(v);
            }
        }
    }
    let values = if backdrop.len() * 4 >= all.len() {
        backdrop
    } else {
        all
    };
    values.iter().sum::<f32>() / values.len() as f32
}

/// The checklist as one compact chat line: a count of passed items, then each item short,
/// failing ones marked. `note` (for example a small source) is appended.
pub fn chat_line(checks: &[Check], note: Option<&str>) -> String {
    let passed = checks.iter().filter(|c| c.pass).count();
    // The matte items read as one "clean cut-out" while they pass; failing ones by name.
    let matte = |c: &Check| MATTE_LINE.contains(&c.name.as_str());
    let clean = checks.iter().filter(|c| matte(c)).all(|c| c.pass);
    let mut items: Vec<String> = Vec::new();
    let mut clean_said = false;
    for c in checks {
        if matte(c) && c.pass {
            if clean && !clean_said {
                items.push("✓ clean cut-out".into());
                clean_said = true;
            }
            continue;
        }
        items.extend(short(c));
    }
    let mut line = format!("Checklist {passed}/{}: {}", checks.len(), items.join(" · "));
    if let Some(note) = note {
        line.push_str(" · ");
        line.push_str(note);
    }
    line
}

fn short(c: &Check) -> Option<String> {
    let mark = if c.pass { "✓" } else { "✗" };
    let text = match c.name.as_str() {
        "single_face" => format!("{} face", c.value),
        "eye_line" => format!("eyes {:.0}%", c.value),
        "head_top" if c.threshold.starts_with("crown") => "crown cropped".into(),
        "head_top" => format!("top {:.0}%", c.value),
        "chin" => format!("chin {:.0}%", c.value),
        "head_ratio" => format!("head {:.0}%", c.value),
        "centring" => format!("centre ±{:.1}%", c.value),
        "sharpness" => format!("sharp {:.0}", c.value),
        "backdrop_brightness" => format!("backdrop {:.0}", c.value),
        "backdrop_uniformity" => format!("even ±{:.1}", c.value),
        "stray_matte" => format!("stray {:.1}%", c.value),
        "holes" => format!("holes {:.1}%", c.value),
        "halo" => format!("halo {:.0}", c.value),
        "bottom_body" => format!("body {:.0}% faded", c.value),
        "light_balance" => format!("light {:.2}", c.value),
        "roll" => format!("roll {:.0}°", c.value),
        "yaw" => format!("yaw {:.0}°", c.value),
        "upscale" => return (!c.pass).then(|| format!("{mark} upscale {:.1}x", c.value)),
        other => format!("{other} {:.2}", c.value),
    };
    let rule = if c.pass {
        String::new()
    } else {
        format!(" ({})", c.threshold)
    };
    Some(format!("{mark} {text}{rule}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chat_line_is_compact_and_marks_failures() {
        let checks = vec![
            check("single_face", 1.0, "= 1".into(), true),
            check("eye_line", 39.4, "36%..42%".into(), true),
            check("stray_matte", 0.0, "<= 0.5%".into(), true),
            check("holes", 0.1, "<= 0.5%".into(), true),
            check("halo", 14.0, "<= 12".into(), false),
            check("light_balance", 0.62, ">= 0.80".into(), false),
            check("upscale", 2.0, "<= 2x".into(), true),
        ];
        let line = chat_line(&checks, Some("small source: 492x615"));
        assert_eq!(
            line,
            "Checklist 5/7: ✓ 1 face · ✓ eyes 39% · ✗ halo 14 (<= 12) · ✗ light 0.62 (>= 0.80) · \
             small source: 492x615"
        );
        assert!(line.chars().count() < 200);
        let passing: Vec<Check> = checks.into_iter().filter(|c| c.name != "halo").collect();
        assert!(chat_line(&passing, None).contains("✓ clean cut-out"));
    }
}
