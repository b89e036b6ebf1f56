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
use super::person::{Border, PersonMask};
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

/// The 4:5 master when the photo's top edge cuts the head: the crown is cropped by the frame
/// (the cut stays outside the picture), so there is no hair band; the eyes may sit a little
/// higher and the head reach further down, as in a photographer's tight crown crop.
pub const MASTER_CROWN_BANDS: Bands = Bands {
    hair_top: None,
    eye_line: (0.24, 0.42),
    chin: Some((0.58, 0.76)),
    head: (0.46, 0.85),
    centring: 0.03,
};

/// The 1:1 avatar with the crown cropped (see [`MASTER_CROWN_BANDS`]).
pub const SQUARE_CROWN_BANDS: Bands = Bands {
    hair_top: None,
    eye_line: (0.22, 0.46),
    chin: None,
    head: (0.50, 0.90),
    centring: 0.03,
};

/// The bands of a framing.
pub fn bands(framing: Framing) -> Bands {
    match framing {
        Framing::Master => MASTER_BANDS,
        Framing::Square => SQUARE_BANDS,
    }
}

/// The bands of a framing whose crown is cropped.
pub fn crown_bands(framing: Framing) -> Bands {
    match framing {
        Framing::Master => MASTER_CROWN_BANDS,
        Framing::Square => SQUARE_CROWN_BANDS,
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
    /// Whether the photo's top edge cuts the head, so the frame crops the crown.
    pub crown_cropped: bool,
}

/// Fraction of the hair and chin bands' width kept as a margin on each side when aiming.
const SAFETY: f32 = 0.2;

/// Weight of the part of a frame that falls outside the source photo (as a fraction of the
/// frame height) against the preferences for band middles: the solver tightens the framing
/// within the bands before it extends the canvas past the photo.
const OUTSIDE_WEIGHT: f32 = 20.0;

/// Weight of a frame reaching past a border where the photo cuts the person: there the body
/// (or the head) would end in a straight line in view, so no such frame is ever chosen while
/// another exists.
const FORBIDDEN_WEIGHT: f32 = 1.0e6;

/// A border cuts the person where the mask along it is at least this much person.
const CUT_LEVEL: f32 = 0.3;

/// A frame may reach this far (source pixels) past a border that cuts the person: rounding.
const FORBIDDEN_SLACK: f32 = 1.0;

/// The most the face may move off the frame's centre to keep a frame inside the photo, as a
/// fraction of the centring tolerance, and the steps searched on each side.
const SHIFT: f32 = 0.8;
const SHIFT_STEPS: i32 = 4;

/// The source photo's rectangle, seen from aligned coordinates, and where its borders cut the
/// subject.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Roll correction of the face.
    pub align: Align,
    /// Photo width.
    pub width: f32,
    /// Photo height.
    pub height: f32,
    /// The subject's mask, if known: a frame never reaches past a border where it cuts the
    /// person.
    pub person: Option<&'a PersonMask>,
}

/// How far a frame reaches past the photo: anywhere, and past borders that cut the person.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Overshoot {
    /// Summed over the corners, in pixels.
    any: f32,
    /// The farthest reach past a border that cuts the person, in pixels.
    forbidden: f32,
}

impl Source<'_> {
    /// How far an aligned rectangle reaches past the photo.
    fn overshoot(&self, left: f32, top: f32, width: f32, height: f32) -> Overshoot {
        let corners = [(0.0, 0.0), (width, 0.0), (0.0, height), (width, height)]
            .map(|(x, y)| self.align.to_source(Point::new(left + x, top + y)));
        let any = corners
            .iter()
            .map(|p| (-p.x).max(p.x - self.width).max(0.0) + (-p.y).max(p.y - self.height).max(0.0))
            .sum();
        let Some(person) = self.person else {
            return Overshoot { any, forbidden: 0.0 };
        };
        let (x0, x1) = corners
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.x), b.max(p.x)));
        let (y0, y1) = corners
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.y), b.max(p.y)));
        let (cx0, cx1) = (x0.max(0.0), x1.min(self.width));
        let (cy0, cy1) = (y0.max(0.0), y1.min(self.height));
        let reach = [
            (Border::Top, -y0, cx0, cx1),
            (Border::Bottom, y1 - self.height, cx0, cx1),
            (Border::Left, -x0, cy0, cy1),
            (Border::Right, x1 - self.width, cy0, cy1),
        ];
        let forbidden = reach
            .into_iter()
            .filter(|&(border, past, from, to)| past > 0.0 && person.cut_along(border, from, to) >= CUT_LEVEL)
            .map(|(_, past, _, _)| past)
            .fold(0.0, f32::max);
        Overshoot { any, forbidden }
    }

    /// Whether the photo's top edge cuts the head whose top is at aligned `hair_top`.
    fn crown_cut(&self, g: &FaceGeometry, hair_top: f32) -> bool {
        let Some(person) = self.person else {
            return false;
        };
        let top = self.align.to_source(Point::new(g.center_x, hair_top));
        let (a, b) = (
            self.align.to_source(Point::new(g.center_x - g.eye_distance, 0.0)),
            self.align.to_source(Point::new(g.center_x + g.eye_distance, 0.0)),
        );
        top.y < 1.0 && person.cut_along(Border::Top, a.x.min(b.x), a.x.max(b.x)) >= CUT_LEVEL
    }
}

/// Why no frame could be planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Every frame within the bands would show the person cut by the photo's border.
    #[error("the photo is cropped too tightly for this framing")]
    TooTight,
}

/// Plans `framing` for a face with the hair top at aligned y `hair_top` in a photo `source`.
/// Where the photo's border cuts the person the frame stays inside it (a tighter frame, a
/// larger head); past the other borders the backdrop extends the picture. A head cut by the
/// top border gets a crown-cropped frame. No frame within the bands: [`PlanError::TooTight`].
pub fn plan(g: &FaceGeometry, hair_top: f32, framing: Framing, source: &Source) -> Result<Frame, PlanError> {
    let crown_cropped = source.crown_cut(g, hair_top);
    let bands = if crown_cropped {
        crown_bands(framing)
    } else {
        bands(framing)
    };
    let above = (-hair_top).max(1.0);
    let below = g.chin.max(1.0);
    let aspect = match framing {
        Framing::Master => 0.8,
        Framing::Square => 1.0,
    };
    let outside = |eye: f32, head: f32, shift: f32| {
        let height = (above + below) / head;
        let width = height * aspect;
        source.overshoot(
            g.center_x - width / 2.0 + shift * width,
            -eye * height,
            width,
            height,
        )
    };
    // Where the frame would reach past a border, the face may move off the centre by up to
    // most of the centring tolerance; centred is preferred.
    let shifts: Vec<f32> = if source.person.is_some() {
        let max = SHIFT * bands.centring;
        (-SHIFT_STEPS..=SHIFT_STEPS)
            .map(|k| max * k as f32 / SHIFT_STEPS as f32)
            .collect()
    } else {
        vec![0.0]
    };
    let mut best = (0.0, 0.0, 0.0, f32::MAX);
    for &shift in &shifts {
        let (eye, head, cost) = solve(&bands, above, below, |eye, head| {
            let o = outside(eye, head, shift);
            let height = (above + below) / head;
            OUTSIDE_WEIGHT * o.any / height
                + FORBIDDEN_WEIGHT * (o.forbidden - FORBIDDEN_SLACK).max(0.0) / height
                + 0.5 * (shift / bands.centring).powi(2)
        });
        if cost < best.3 {
            best = (eye, head, shift, cost);
        }
    }
    let (eye, head, shift, _) = best;
    if outside(eye, head, shift).forbidden > FORBIDDEN_SLACK {
        return Err(PlanError::TooTight);
    }
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
    Ok(Frame {
        framing,
        left: g.center_x - width / 2.0 + shift * width,
        top: -eye * height,
        height,
        width_px,
        height_px,
        scale,
        source_limited: width_px < target_w,
        crown_cropped,
    })
}

/// The eye line and head fractions that best meet `bands` for a head reaching `above` the eye
/// line and `below` it (source pixels). A small grid search: every candidate keeps the eye line
/// and head size inside their bands; among them, the one leaving the hair and chin bands the
/// least (heavily weighted), with the least `penalty` (reaching past the photo), and closest to
/// every band's middle wins.
fn solve(bands: &Bands, above: f32, below: f32, penalty: impl Fn(f32, f32) -> f32) -> (f32, f32, f32) {
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
    // The eye line and head size are kept a little inside their bands too unless only their
    // margins fit the photo: the hair top is measured again on the output, and an independent
    // detection places the eyes a pixel or two differently.
    let margin = |v: f32, (a, b): (f32, f32)| {
        let m = SAFETY / 2.0 * (b - a);
        let outside = ((a + m) - v).max(v - (b - m)).max(0.0) / (b - a);
        1000.0 * outside * outside
    };
    let (eye_band, head_band) = (bands.eye_line, bands.head);
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
                + margin(eye, bands.eye_line)
                + margin(head, bands.head)
                + miss(hair, bands.hair_top)
                + miss(chin, bands.chin)
                + penalty(eye, head);
            if cost < best.2 {
                best = (eye, head, cost);
            }
        }
    }
    best
}

impl Frame {
    /// The bands this frame was planned in.
    pub fn bands(&self) -> Bands {
        if self.crown_cropped {
            crown_bands(self.framing)
        } else {
            bands(self.framing)
        }
    }

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
    fn roomy() -> Source<'static> {
        Source {
            align: Align {
                origin: Point::new(5000.0, 5000.0),
                cos: 1.0,
                sin: 0.0,
            },
            width: 10_000.0,
            height: 10_000.0,
            person: None,
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
                let frame = plan(&geometry(chin), hair, framing, &roomy()).unwrap();
                check(&frame, hair, chin);
            }
        }
    }

    #[test]
    fn sizes_are_exact_and_never_upscaled_past_two() {
        let small = plan(&geometry(76.0), -87.0, Framing::Master, &roomy()).unwrap();
        assert_eq!(small.width_px * 5, small.height_px * 4);
        assert!(small.scale <= MAX_UPSCALE + 1e-4 && small.source_limited);
        let big = plan(&geometry(76.0 * 8.0), -87.0 * 8.0, Framing::Master, &roomy()).unwrap();
        assert_eq!((big.width_px, big.height_px), MASTER_SIZE);
        assert!(!big.source_limited);
        let square = plan(&geometry(600.0), -700.0, Framing::Square, &roomy()).unwrap();
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
            person: None,
        };
        let (hair, chin) = (-163.0, 145.0);
        let free = plan(&geometry(chin), hair, Framing::Square, &roomy()).unwrap();
        let fitted = plan(&geometry(chin), hair, Framing::Square, &tight).unwrap();
        check(&fitted, hair, chin);
        assert!(
            free.width() > 500.0 && fitted.width() <= 500.5,
            "{} {}",
            free.width(),
            fitted.width()
        );
    }

    /// A 600x800 photo whose person is a column under the head (x 150..450) from y = `top`
    /// to `bottom` (network resolution 60x80), eyes at (300, `eyes`).
    fn photo(top: usize, bottom: usize, eyes: f32) -> (PersonMask, Align) {
        let values = (0..60 * 80)
            .map(|i| {
                let (x, y) = (i % 60, i / 60);
                if (15..45).contains(&x) && (top..bottom).contains(&y) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let mask = crate::vision::Mask::from_vec(60, 80, values).unwrap();
        let align = Align {
            origin: Point::new(300.0, eyes),
            cos: 1.0,
            sin: 0.0,
        };
        (PersonMask::from_mask(&mask, 600, 800), align)
    }

    fn source<'a>(person: &'a PersonMask, align: Align) -> Source<'a> {
        Source {
            align,
            width: 600.0,
            height: 800.0,
            person: Some(person),
        }
    }

    #[test]
    fn a_body_cut_by_the_photo_never_reaches_past_it() {
        // Head from y 100, eyes at 260, chin at 400; the body is cut by the bottom edge 1.3
        // head heights below the chin: the frame stays above the bottom and never reaches
        // past the sides where the shoulders touch them.
        let (hair, chin) = (-160.0, 140.0);
        for framing in [Framing::Master, Framing::Square] {
            let (person, align) = photo(10, 80, 260.0);
            let frame = plan(&geometry(chin), hair, framing, &source(&person, align)).unwrap();
            check(&frame, hair, chin);
            let bottom = align.origin.y + frame.top + frame.height;
            assert!(bottom <= 801.0, "{framing:?} bottom {bottom}");
            assert!(!frame.crown_cropped);
        }
    }

    #[test]
    fn a_body_cut_at_the_neck_has_no_framing() {
        let (hair, chin) = (-160.0, 140.0);
        let (person, align) = photo(10, 80, 600.0);
        let s = source(&person, align);
        // The photo ends 40 px under the chin: no band allows so little body.
        let tight = Source { height: 780.0, ..s };
        let short = PersonMask::from_mask(
            &crate::vision::Mask::from_vec(60, 78, vec![1.0; 60 * 78]).unwrap(),
            600,
            780,
        );
        let tight = Source {
            person: Some(&short),
            ..tight
        };
        assert_eq!(
            plan(&geometry(chin), hair, Framing::Master, &tight),
            Err(PlanError::TooTight)
        );
        // Where the bottom does not cut the person, the frame may reach past it.
        let free = Source {
            person: None,
            ..tight
        };
        assert!(plan(&geometry(chin), hair, Framing::Master, &free).is_ok());
    }

    #[test]
    fn a_head_cut_by_the_top_edge_is_crown_cropped_inside_the_photo() {
        // The photo starts 100 px above the eyes; the head's top is estimated 160 px above.
        let (hair, chin) = (-160.0, 140.0);
        let (person, align) = photo(0, 80, 100.0);
        let frame = plan(&geometry(chin), hair, Framing::Master, &source(&person, align)).unwrap();
        assert!(frame.crown_cropped);
        assert!(
            align.origin.y + frame.top >= -1.0,
            "frame top {}",
            align.origin.y + frame.top
        );
        assert_eq!(frame.bands(), MASTER_CROWN_BANDS);
    }

    #[test]
    fn the_map_puts_the_eyes_where_planned() {
        let align = Align {
            origin: Point::new(200.0, 100.0),
            cos: 10f32.to_radians().cos(),
            sin: 10f32.to_radians().sin(),
        };
        let frame = plan(&geometry(76.0), -87.0, Framing::Master, &roomy()).unwrap();
        let map = frame.to_source(&align);
        let eye_out = frame.to_output(&align, align.origin);
        let (x, y) = map.apply(eye_out.x - 0.5, eye_out.y - 0.5);
        assert!((x + 0.5 - 200.0).abs() < 1e-2 && (y + 0.5 - 100.0).abs() < 1e-2);
    }
}
