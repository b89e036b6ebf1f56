//! Framing: where the head goes in a 4:5 master and a 1:1 avatar, and at what resolution.
//!
//! All the numbers live in [`MASTER_BANDS`], [`SQUARE_BANDS`] and the size constants below.
//! They come from headshot practice (`docs/headshot-rules.md`): a headshot is tight, top of
//! the head to the shoulders, eyes about two fifths down the frame (the "eye line" that draws
//! the viewer to the face), a little air above the hair so the head does not touch the edge,
//! and the chin a little past the middle so the shoulders fit below. The square avatar is shown
//! small and often cut to a circle, so the head is a little smaller and the eyes a little lower
//! to keep the face clear of the rounded corners.

use super::geometry::{Affine, Align, FaceGeometry};
use crate::generator::Framing;
use crate::vision::Point;

/// Allowed ranges of head landmarks, as fractions of the frame height (from the top).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    /// Top of the hair, if the framing constrains it.
    pub hair_top: Option<(f32, f32)>,
    pub eye_line: (f32, f32),
    /// The chin, if the framing constrains it.
    pub chin: Option<(f32, f32)>,
    /// Hair top to chin, as a fraction of the frame height.
    pub head: (f32, f32),
    /// Largest distance of the face centre from the frame's vertical midline, as a fraction of
    /// the width.
    pub centring: f32,
}

/// The 4:5 master: hair top 6-12% below the top, eye line at 36-42%, chin at 58-66%.
pub const MASTER_BANDS: Bands = Bands {
    hair_top: Some((0.06, 0.12)),
    eye_line: (0.36, 0.42),
    chin: Some((0.58, 0.66)),
    head: (0.46, 0.60),
    centring: 0.03,
};

/// The 1:1 avatar: eye line at 38-46%, hair top to chin 50-65% of the height (the hair is kept
/// at least 3% below the top so the head is never cut).
pub const SQUARE_BANDS: Bands = Bands {
    hair_top: Some((0.03, 0.20)),
    eye_line: (0.38, 0.46),
    chin: None,
    head: (0.50, 0.65),
    centring: 0.03,
};

/// Size of the master when the source allows it.
pub const MASTER_SIZE: (u32, u32) = (1024, 1280);
/// Size of the square when the source allows it.
pub const SQUARE_SIZE: (u32, u32) = (1024, 1024);
/// Never enlarge the source more than this: past 2x nothing real is left to show.
pub const MAX_UPSCALE: f32 = 2.0;

/// The bands of a framing.
pub fn bands(framing: Framing) -> Bands {
    match framing {
        Framing::Master => MASTER_BANDS,
        Framing::Square => SQUARE_BANDS,
    }
}

/// One planned output frame: a rectangle in aligned coordinates and the output size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Which framing.
    pub framing: Framing,
    /// Left edge (aligned source pixels).
    pub left: f32,
    /// Top edge (aligned source pixels).
    pub top: f32,
    /// Height in source pixels; the width follows from the aspect ratio.
    pub height: f32,
    /// Output width in pixels.
    pub width_px: u32,
    /// Output height in pixels.
    pub height_px: u32,
    /// Output pixels per source pixel.
    pub scale: f32,
    /// Whether the source limited the size (the output is smaller than the target).
    pub source_limited: bool,
}

/// Fraction of the hair and chin bands' width kept as a margin on each side when aiming.
const SAFETY: f32 = 0.2;

/// Weight of the part of a frame that falls outside the source photo (as a fraction of the
/// frame height) against the preferences for band middles: the solver tightens the framing
/// within the bands before it extends the canvas past the photo.
const OUTSIDE_WEIGHT: f32 = 20.0;

/// The source photo's rectangle, seen from aligned coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Source {
    /// Roll correction of the face.
    pub align: Align,
    /// Photo width.
    pub width: f32,
    /// Photo height.
    pub height: f32,
}

impl Source {
    /// How far the corners of an aligned rectangle reach past the photo, summed, in pixels.
    fn overshoot(&self, left: f32, top: f32, width: f32, height: f32) -> f32 {
        [(0.0, 0.0), (width, 0.0), (0.0, height), (width, height)]
            .iter()
            .map(|&(x, y)| {
                let p = self.align.to_source(Point::new(left + x, top + y));
                (-p.x).max(p.x - self.width).max(0.0) + (-p.y).max(p.y - self.height).max(0.0)
            })
            .sum()
    }
}

/// Plans `framing` for a face with the hair top at aligned y `hair_top` in a photo `source`.
pub fn plan(g: &FaceGeometry, hair_top: f32, framing: Framing, source: &Source) -> Frame {
    let bands = bands(framing);
    let above = (-hair_top).max(1.0);
    let below = g.chin.max(1.0);
    let aspect = match framing {
        Framing::Master => 0.8,
        Framing::Square => 1.0,
    };
    let outside = |eye: f32, head: f32| {
        let height = (above + below) / head;
        let width = height * aspect;
        source.overshoot(g.center_x - width / 2.0, -eye * height, width, height) / height
    };
    let (eye, head) = solve(&bands, above, below, outside);
    let height = (above + below) / head;
    let (target_w, target_h) = match framing {
        Framing::Master => MASTER_SIZE,
        Framing::Square => SQUARE_SIZE,
    };
    let scale = (target_h as f32 / height).min(MAX_UPSCALE);
    let (width_px, height_px) = match framing {
        // Exact 4:5: a multiple of 4 by the same multiple of 5.
        Framing::Master => {
            let m = ((height * scale + 1e-3) / 5.0).floor().max(1.0) as u32;
            (4 * m, 5 * m)
        }
        Framing::Square => {
            let side = (height * scale + 1e-3).floor().max(1.0) as u32;
            (side, side)
        }
    };
    let scale = height_px as f32 / height;
    let width = width_px as f32 / scale;
    Frame {
        framing,
        left: g.center_x - width / 2.0,
        top: -eye * height,
        height,
        width_px,
        height_px,
        scale,
        source_limited: width_px < target_w,
    }
}

/// The eye line and head fractions that best meet `bands` for a head reaching `above` the eye
/// line and `below` it (source pixels). A small grid search: every candidate keeps the eye line
/// and head size inside their bands; among them, the one leaving the hair and chin bands the
/// least (heavily weighted), reaching least past the photo, and closest to every band's middle
/// wins.
fn solve(bands: &Bands, above: f32, below: f32, outside: impl Fn(f32, f32) -> f32) -> (f32, f32) {
    const STEPS: usize = 48;
    let span = above + below;
    let lerp = |(a, b): (f32, f32), t: f32| a + (b - a) * t;
    let mid = |(a, b): (f32, f32)| (a + b) / 2.0;
    // The hair and chin are aimed a little inside their bands: they are estimates, measured
    // again on the output from the refined matte.
    let miss = |v: f32, band: Option<(f32, f32)>| match band {
        Some((a, b)) => {
            let (a, b) = (a + SAFETY * (b - a), b - SAFETY * (b - a));
            let width = b - a;
            let outside = (a - v).max(v - b).max(0.0) / width;
            1000.0 * outside * outside + 0.5 * ((v - mid((a, b))) / width).powi(2)
        }
        None => 0.0,
    };
    // The eye line and head size are searched a little inside their bands too: the hair top is
    // measured again on the output, and an independent detection places the eyes a pixel or
    // two differently.
    let inner = |(a, b): (f32, f32), m: f32| (a + m * (b - a), b - m * (b - a));
    let (eye_band, head_band) = (
        inner(bands.eye_line, SAFETY / 2.0),
        inner(bands.head, SAFETY / 2.0),
    );
    let mut best = (mid(bands.eye_line), mid(bands.head), f32::MAX);
    for i in 0..=STEPS {
        let eye = lerp(eye_band, i as f32 / STEPS as f32);
        for j in 0..=STEPS {
            let head = lerp(head_band, j as f32 / STEPS as f32);
            let hair = eye - head * above / span;
            let chin = eye + head * below / span;
            let width = |(a, b): (f32, f32)| b - a;
            let cost = ((eye - mid(bands.eye_line)) / width(bands.eye_line)).powi(2)
                + ((head - mid(bands.head)) / width(bands.head)).powi(2)
                + miss(hair, bands.hair_top)
                + miss(chin, bands.chin)
                + OUTSIDE_WEIGHT * outside(eye, head);
            if cost < best.2 {
                best = (eye, head, cost);
            }
        }
    }
    (best.0, best.1)
}

impl Frame {
    /// Width in source pixels.
    pub fn width(&self) -> f32 {
        self.width_px as f32 / self.scale
    }

    /// The map from output pixel indices to source pixel-index coordinates.
    pub fn to_source(&self, align: &Align) -> Affine {
        Affine::aligned_rect(align, self.left, self.top, self.scale)
    }

    /// A source point in output pixel coordinates (continuous).
    pub fn to_output(&self, align: &Align, p: Point) -> Point {
        let a = align.to_aligned(p);
        Point::new((a.x - self.left) * self.scale, (a.y - self.top) * self.scale)
    }

    /// An aligned point in output pixel coordinates.
    pub fn aligned_to_output(&self, a: Point) -> Point {
        Point::new((a.x - self.left) * self.scale, (a.y - self.top) * self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(chin: f32) -> FaceGeometry {
        FaceGeometry {
            eye_distance: 44.0,
            eye_mouth: 38.0,
            center_x: 3.0,
            nose_x: 0.0,
            chin,
            face_height: 120.0,
            yaw_degrees: 0.0,
        }
    }

    /// A photo so large that no frame reaches past it.
    fn roomy() -> Source {
        Source {
            align: Align {
                origin: Point::new(5000.0, 5000.0),
                cos: 1.0,
                sin: 0.0,
            },
            width: 10_000.0,
            height: 10_000.0,
        }
    }

    fn check(frame: &Frame, hair_top: f32, chin: f32) {
        let b = bands(frame.framing);
        let frac = |y: f32| (y - frame.top) / frame.height;
        let inside = |v: f32, (a, c): (f32, f32)| v >= a - 1e-3 && v <= c + 1e-3;
        assert!(inside(frac(0.0), b.eye_line), "eye {}", frac(0.0));
        if let Some(band) = b.hair_top {
            assert!(inside(frac(hair_top), band), "hair {}", frac(hair_top));
        }
        if let Some(band) = b.chin {
            assert!(inside(frac(chin), band), "chin {}", frac(chin));
        }
        assert!(inside((chin - hair_top) / frame.height, b.head));
        let centre = frame.left + frame.width() / 2.0;
        assert!((centre - 3.0).abs() < 1e-3);
    }

    #[test]
    fn typical_heads_land_in_every_band() {
        for (hair, chin) in [(-87.0, 76.0), (-163.0, 145.0), (-70.0, 80.0), (-110.0, 70.0)] {
            for framing in [Framing::Master, Framing::Square] {
                let frame = plan(&geometry(chin), hair, framing, &roomy());
                check(&frame, hair, chin);
            }
        }
    }

    #[test]
    fn sizes_are_exact_and_never_upscaled_past_two() {
        let small = plan(&geometry(76.0), -87.0, Framing::Master, &roomy());
        assert_eq!(small.width_px * 5, small.height_px * 4);
        assert!(small.scale <= MAX_UPSCALE + 1e-4 && small.source_limited);
        let big = plan(&geometry(76.0 * 8.0), -87.0 * 8.0, Framing::Master, &roomy());
        assert_eq!((big.width_px, big.height_px), MASTER_SIZE);
        assert!(!big.source_limited);
        let square = plan(&geometry(600.0), -700.0, Framing::Square, &roomy());
        assert_eq!((square.width_px, square.height_px), SQUARE_SIZE);
    }

    #[test]
    fn a_tight_photo_gets_a_tighter_frame_before_an_extended_one() {
        let tight = Source {
            align: Align {
                origin: Point::new(250.0, 190.0),
                cos: 1.0,
                sin: 0.0,
            },
            width: 500.0,
            height: 600.0,
        };
        let (hair, chin) = (-163.0, 145.0);
        let free = plan(&geometry(chin), hair, Framing::Square, &roomy());
        let fitted = plan(&geometry(chin), hair, Framing::Square, &tight);
        check(&fitted, hair, chin);
        assert!(
            free.width() > 500.0 && fitted.width() <= 500.5,
            "{} {}",
            free.width(),
            fitted.width()
        );
    }

    #[test]
    fn the_map_puts_the_eyes_where_planned() {
        let align = Align {
            origin: Point::new(200.0, 100.0),
            cos: 10f32.to_radians().cos(),
            sin: 10f32.to_radians().sin(),
        };
        let frame = plan(&geometry(76.0), -87.0, Framing::Master, &roomy());
        let map = frame.to_source(&align);
        let eye_out = frame.to_output(&align, align.origin);
        let (x, y) = map.apply(eye_out.x - 0.5, eye_out.y - 0.5);
        assert!((x + 0.5 - 200.0).abs() < 1e-2 && (y + 0.5 - 100.0).abs() < 1e-2);
    }
}
