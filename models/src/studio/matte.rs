//! One framed scene: the source warped into the output frame (roll corrected, scaled,
//! extended with backdrop past the photo's borders where they do not cut the person), the
//! subject's alpha matte, and the foreground with the old background's colour taken out of its
//! edges.
//!
//! The matte: the isolated person mask is warped onto a reduced grid of the frame, where a
//! trimap (sure person, sure background, and an unknown band sized from the face, wider over
//! the hair) fixes what the network is sure of; inside the band the guided filter estimates
//! the alpha from the photo's colours, optionally solved further by closed-form matting
//! ([`super::alpha`]), and a contrast curve settles ambiguous half-values; the grid matte is
//! then brought to full resolution by the guided filter with the trimap's sure values imposed
//! again (or simply resized when the grid already has a pixel per source pixel). Past the
//! photo's borders the alpha is zero;
//! framing never lets a border that cuts the person into view (see [`super::framing`]).
//!
//! Edge colours: an edge pixel is a mix `I = a F + (1 - a) B` of the person's colour `F` and the
//! old background `B`. With local means of the person (`F~`) and of the background (`B~`)
//! around it, `F = I + (1 - a) (F~ - B~)` recovers the person's colour, so a blue wall leaves
//! no blue fringe on a white backdrop.

use image::RgbImage;
use rayon::prelude::*;

use super::alpha::{self, BACKGROUND, FOREGROUND};
use super::framing::Frame;
use super::geometry::{Affine, Align, FaceGeometry, map_face};
use super::intake::Subject;
use super::measure::FaceFrame;
use super::person::{Border, PersonMask};
use super::resample::{Plane, block_sums, resize, warp};
use crate::vision::shrink_to_fit;
use crate::vision::{Face, Mask, Point, guided};

/// Long side of the grid the matte is solved on.
const MATTE_SIDE: u32 = 512;
/// Half-width of the trimap's unknown band below the eye line, in face heights.
const BAND: f32 = 0.03;
/// Half-width of the unknown band above the eye line (hair), in face heights.
const HAIR_BAND: f32 = 0.06;
/// The contrast curve on the band's alpha (values below the first are background, above
/// the second person).
const CONTRAST: (f32, f32) = (0.1, 0.9);
/// Conjugate-gradient steps of closed-form matting.
const ITERATIONS: usize = 40;

/// How the alpha inside the trimap's unknown band is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Matting {
    /// The guided filter's estimate alone.
    #[default]
    Guided,
    /// Closed-form matting solved from the guided estimate.
    ClosedForm,
}

impl Matting {
    /// The other choice: what the pipeline tries when a matte check fails.
    pub fn alternative(self) -> Matting {
        match self {
            Matting::Guided => Matting::ClosedForm,
            Matting::ClosedForm => Matting::Guided,
        }
    }
}
/// Downscaling factor of the local colour means used for edge decontamination.
const MEANS_FACTOR: usize = 4;

/// Everything later stages need about one framed output.
#[derive(Debug, Clone)]
pub struct Scene {
    /// The plan this scene realises.
    pub frame: Frame,
    /// The source photo, framed.
    pub photo: RgbImage,
    /// The person's colours with the old background removed from the edges.
    pub foreground: RgbImage,
    /// Person alpha, 0..1, at the output size (0 past the photo's borders).
    pub alpha: Plane,
    /// The subject's face in output pixels.
    pub face: FaceFrame,
    /// The subject's face geometry in output pixels (relative to the eye midpoint).
    pub geometry: FaceGeometry,
    /// Every face of the source, in output pixels (the subject's first).
    pub faces: Vec<Face>,
}

impl Scene {
    /// Output width.
    pub fn width(&self) -> u32 {
        self.frame.width_px
    }

    /// Output height.
    pub fn height(&self) -> u32 {
        self.frame.height_px
    }

    /// The eye midpoint in output pixels.
    pub fn eyes(&self) -> Point {
        self.face.align.origin
    }
}

/// The union of all planned frames, rendered once at the finest scale among them: the photo
/// is warped, matted and cleaned here, and every frame is cut out of it ([`Canvas::cut`]), so
/// the costly matte is computed once however many framings are asked for.
#[derive(Debug, Clone)]
pub struct Canvas {
    /// The canvas as a frame (aligned rectangle, pixel size and scale).
    pub frame: Frame,
    /// The source photo, warped.
    pub photo: RgbImage,
    /// The person's colours with edges cleaned.
    pub foreground: RgbImage,
    /// Person alpha: refined matte times coverage of the photo.
    pub matte: Plane,
}

impl Canvas {
    /// Renders the union of `frames` from the source `image`.
    pub fn build(
        image: &RgbImage,
        subject: &Subject,
        person: &PersonMask,
        frames: &[Frame],
        epsilon: f32,
        matting: Matting,
    ) -> Canvas {
        let frame = union(frames);
        let align = subject.align;
        let (w, h) = (frame.width_px, frame.height_px);
        let map = frame.to_source(&align);
        let photo = warp(image, &map, w, h);
        let coverage = coverage(&map, person, w, h);
        let face = Band {
            eye_row: frame.to_output(&align, align.origin).y,
            face_height: subject.geometry.face_height * frame.scale,
        };
        let mut matte = refined_matte(
            &photo,
            person,
            &map,
            frame.scale,
            epsilon,
            &coverage,
            face,
            matting,
        );
        for (a, c) in matte.data.iter_mut().zip(&coverage) {
            *a *= c;
        }
        let foreground = decontaminate(&photo, &matte);
        Canvas {
            frame,
            photo,
            foreground,
            matte,
        }
    }

    /// The scene of `frame` (one of the frames the canvas was built for).
    pub fn cut(&self, frame: Frame, subject: &Subject) -> Scene {
        let c = &self.frame;
        let r = c.scale / frame.scale;
        let map = Affine {
            x0: (frame.left - c.left) * c.scale + 0.5 * r - 0.5,
            y0: (frame.top - c.top) * c.scale + 0.5 * r - 0.5,
            xu: r,
            yu: 0.0,
            xv: 0.0,
            yv: r,
        };
        let (w, h) = (frame.width_px, frame.height_px);
        let (wu, hu) = (w as usize, h as usize);
        let align = subject.align;
        let alpha = self.matte.warped(&map, wu, hu);
        let eyes = frame.to_output(&align, align.origin);
        let face = FaceFrame {
            align: Align {
                origin: eyes,
                cos: 1.0,
                sin: 0.0,
            },
            unit: subject.geometry.eye_distance * frame.scale,
        };
        let faces = subject
            .faces
            .iter()
            .map(|f| map_face(f, frame.scale, |p| frame.to_output(&align, p)))
            .collect();
        Scene {
            frame,
            photo: warp(&self.photo, &map, w, h),
            foreground: warp(&self.foreground, &map, w, h),
            alpha,
            face,
            geometry: subject.geometry.scaled(frame.scale),
            faces,
        }
    }
}

/// The smallest canvas holding every frame at the finest of their scales, its pixel grid
/// aligned with the finest frame's so that frame is a plain crop.
fn union(frames: &[Frame]) -> Frame {
    let finest = frames
        .iter()
        .copied()
        .reduce(|a, b| if b.scale > a.scale { b } else { a })
        .expect("at least one frame");
    let k = finest.scale;
    let left = frames.iter().map(|f| f.left).fold(f32::MAX, f32::min);
    let top = frames.iter().map(|f| f.top).fold(f32::MAX, f32::min);
    let right = frames.iter().map(|f| f.left + f.width()).fold(f32::MIN, f32::max);
    let bottom = frames.iter().map(|f| f.top + f.height).fold(f32::MIN, f32::max);
    let steps = |d: f32| (d * k - 1e-3).ceil().max(0.0);
    let left = finest.left - steps(finest.left - left) / k;
    let top = finest.top - steps(finest.top - top) / k;
    let width_px = steps(right - left).max(1.0) as u32;
    let height_px = steps(bottom - top).max(1.0) as u32;
    Frame {
        left,
        top,
        height: height_px as f32 / k,
        width_px,
        height_px,
        ..finest
    }
}

/// Where the unknown band is wide (over the hair, above the eye line), in canvas pixels.
#[derive(Debug, Clone, Copy)]
struct Band {
    eye_row: f32,
    face_height: f32,
}

/// The subject's alpha at the canvas size: see the module docs.
#[allow(clippy::too_many_arguments)]
fn refined_matte(
    photo: &RgbImage,
    person: &PersonMask,
    map: &Affine,
    scale: f32,
    epsilon: f32,
    coverage: &[f32],
    face: Band,
    matting: Matting,
) -> Plane {
    let (w, h) = photo.dimensions();
    let (mw, mh) = shrink_to_fit(w, h, MATTE_SIDE);
    let sx = w as f32 / mw as f32;
    let sy = h as f32 / mh as f32;
    let small_map = map.coarsened(sx, sy);
    let (gw, gh) = (mw as usize, mh as usize);
    let coarse = person.warped(&small_map, gw, gh);
    let small = if (mw, mh) == (w, h) {
        photo.clone()
    } else {
        resize(photo, mw, mh)
    };
    // About two network pixels, in grid pixels: the guided filter's window and the least
    // unknown band (the network's edge can be that far off).
    let net_pixel = (person_footprint(person) * scale / sx).max(1.0);
    let radius = ((2.0 * net_pixel).ceil() as u32).max(2);
    let coarse_mask = Mask::from_vec(mw, mh, coarse.data.clone()).expect("sized by warped");
    let estimate = guided::refine(&small, &coarse_mask, radius, epsilon);
    let mut estimate = Plane {
        width: gw,
        height: gh,
        data: estimate.values().to_vec(),
    };
    let (eye_row, fh) = (face.eye_row / sy, face.face_height / sy);
    let least = 2.0 * net_pixel;
    let band = |_x: usize, y: usize| {
        let width = if (y as f32) < eye_row { HAIR_BAND } else { BAND };
        (width * fh).max(least)
    };
    let outside: Vec<bool> = (0..gh)
        .flat_map(|y| (0..gw).map(move |x| (x, y)))
        .map(|(x, y)| {
            let (cx, cy) = (((x as f32 + 0.5) * sx) as usize, ((y as f32 + 0.5) * sy) as usize);
            coverage[cy.min(h as usize - 1) * w as usize + cx.min(w as usize - 1)] < 0.5
        })
        .collect();
    let trimap = alpha::trimap(&coarse, band, &outside);
    alpha::clamp(&mut estimate, &trimap);
    let mut grid = match matting {
        Matting::Guided => estimate,
        Matting::ClosedForm => alpha::closed_form(&small, &estimate, &trimap, ITERATIONS),
    };
    // Where the photo's colours barely separate person and background (a dark hat on a dark
    // flag, a white cap band on a white wall) both methods settle between 0 and 1 over a wide
    // ramp: a washed-out crown and a grey streak. A contrast curve in the band pushes such
    // ambiguous values to the side they lean to; a real soft edge stays a ramp.
    for a in grid.data.iter_mut() {
        *a = smoothstep(CONTRAST.0, CONTRAST.1, *a);
    }
    if (mw, mh) == (w, h) {
        return grid;
    }
    // Up to the canvas. When the grid already has a pixel per source pixel or more (the
    // canvas enlarges the photo) the canvas holds no detail the grid lacks: a smooth resize
    // is all. Otherwise the guided filter takes the edges from the full-resolution photo, and
    // the trimap's sure cells stay sure.
    if scale / sx >= 1.0 {
        return grid.resized(w as usize, h as usize);
    }
    let grid_mask = Mask::from_vec(mw, mh, grid.data).expect("grid size");
    let full = guided::refine(
        photo,
        &grid_mask,
        ((radius as f32 * sx).round() as u32).max(2),
        epsilon,
    );
    let indicator = |state: u8| Plane {
        width: gw,
        height: gh,
        data: trimap
            .iter()
            .map(|&t| if t == state { 1.0 } else { 0.0 })
            .collect(),
    };
    let (sure_fg, sure_bg) = (
        indicator(FOREGROUND).resized(w as usize, h as usize),
        indicator(BACKGROUND).resized(w as usize, h as usize),
    );
    let data = full
        .values()
        .iter()
        .zip(sure_fg.data.iter().zip(&sure_bg.data))
        .map(|(&a, (&f, &b))| {
            if f >= 0.999 {
                1.0
            } else if b >= 0.999 {
                0.0
            } else {
                a
            }
        })
        .collect();
    Plane {
        width: w as usize,
        height: h as usize,
        data,
    }
}

/// Source pixels per network mask pixel (the larger axis).
fn person_footprint(person: &PersonMask) -> f32 {
    let unit = person.mask_map(&Affine {
        x0: 0.0,
        y0: 0.0,
        xu: 1.0,
        yu: 0.0,
        xv: 0.0,
        yv: 1.0,
    });
    1.0 / unit.xu.min(unit.yv)
}

/// Per output pixel: how much of it lies inside the photo (anti-aliased over one pixel).
fn coverage(map: &Affine, person: &PersonMask, w: u32, h: u32) -> Vec<f32> {
    let (w, h) = (w as usize, h as usize);
    let footprint = map.footprint().max(1e-3);
    let mut coverage = vec![0f32; w * h];
    coverage.par_chunks_mut(w).enumerate().for_each(|(v, cov)| {
        for (u, c) in cov.iter_mut().enumerate() {
            let (x, y) = map.apply(u as f32, v as f32);
            let p = Point::new(x + 0.5, y + 0.5);
            let inside = Border::ALL
                .iter()
                .map(|&b| person.distance(b, p))
                .fold(f32::MAX, f32::min);
            *c = (inside / footprint + 0.5).clamp(0.0, 1.0);
        }
    });
    coverage
}

/// Hermite ramp from 0 at `a` to 1 at `b`.
pub fn smoothstep(a: f32, b: f32, x: f32) -> f32 {
    let t = ((x - a) / (b - a)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The photo with edge pixels un-mixed from the old background (see the module docs).
fn decontaminate(photo: &RgbImage, alpha: &Plane) -> RgbImage {
    let (w, h) = (alpha.width, alpha.height);
    let f = MEANS_FACTOR;
    let (lw, lh) = (w.div_ceil(f), h.div_ceil(f));
    // Block sums of a^2 I, a^2, (1-a)^2 I, (1-a)^2 at 1/f resolution.
    let raw = photo.as_raw();
    let mut sums = block_sums::<8>(w, h, f, |x, y| {
        let a = alpha.data[y * w + x];
        let (wf, wb) = (a * a, (1.0 - a) * (1.0 - a));
        let i = (y * w + x) * 3;
        let [r, g, b] = [raw[i], raw[i + 1], raw[i + 2]].map(f32::from);
        [wf * r, wf * g, wf * b, wf, wb * r, wb * g, wb * b, wb]
    });
    let radius = ((0.012 * w.max(h) as f32) / f as f32).round().max(2.0) as usize;
    sums.par_iter_mut().for_each(|p| p.box_blur(radius, 2));
    // Difference of local means F~ - B~ per channel, low resolution.
    let diff: Vec<Plane> = (0..3)
        .map(|c| {
            let data = (0..lw * lh)
                .map(|i| {
                    let (sf, sb) = (sums[3].data[i], sums[7].data[i]);
                    if sf < 1e-4 || sb < 1e-4 {
                        0.0
                    } else {
                        sums[c].data[i] / sf - sums[4 + c].data[i] / sb
                    }
                })
                .collect();
            Plane {
                width: lw,
                height: lh,
                data,
            }
        })
        .collect();
    let mut out = photo.clone();
    out.as_mut()
        .par_chunks_mut(w * 3)
        .enumerate()
        .for_each(|(y, line)| {
            for x in 0..w {
                let a = alpha.data[y * w + x];
                if a <= 0.01 || a >= 0.99 {
                    continue;
                }
                let (lx, ly) = (
                    (x as f32 + 0.5) / f as f32 - 0.5,
                    (y as f32 + 0.5) / f as f32 - 0.5,
                );
                for (c, d) in diff.iter().enumerate() {
                    let v = f32::from(line[x * 3 + c]) + (1.0 - a) * d.sample(lx, ly);
                    line[x * 3 + c] = v.round().clamp(0.0, 255.0) as u8;
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_lose_the_old_background_colour() {
        // Left half person (grey 100), right half blue background, a soft edge in between
        // whose pixels are mixes with the blue.
        let (w, h) = (64usize, 16usize);
        let alpha_at = |x: usize| ((40.0 - x as f32) / 16.0).clamp(0.0, 1.0);
        let photo = RgbImage::from_fn(w as u32, h as u32, |x, _| {
            let a = alpha_at(x as usize);
            let mix = |f: f32, b: f32| (a * f + (1.0 - a) * b).round() as u8;
            image::Rgb([mix(100.0, 20.0), mix(100.0, 40.0), mix(100.0, 230.0)])
        });
        let alpha = Plane {
            width: w,
            height: h,
            data: (0..w * h).map(|i| alpha_at(i % w)).collect(),
        };
        let clean = decontaminate(&photo, &alpha);
        let p = clean.get_pixel(32, 8);
        assert!(alpha_at(32) > 0.4 && alpha_at(32) < 0.6);
        for c in 0..3 {
            assert!((f32::from(p[c]) - 100.0).abs() < 20.0, "{p:?}");
        }
    }

    #[test]
    fn smoothstep_ramps() {
        assert_eq!(smoothstep(0.0, 1.0, -1.0), 0.0);
        assert_eq!(smoothstep(0.0, 1.0, 0.5), 0.5);
        assert_eq!(smoothstep(0.0, 1.0, 2.0), 1.0);
    }
}
