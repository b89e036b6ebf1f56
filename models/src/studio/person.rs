//! The person in the source photo: the segmentation network's coarse mask over the whole
//! photo, and what framing reads from it (the top of the hair, and where the photo's border
//! cuts through the body).

use image::RgbImage;

use super::geometry::{Affine, Align, FaceGeometry};
use super::region::Region;
use super::resample::{Plane, resize};
use crate::vision::{Face, Mask, Point, Segmenter, VisionError};

/// Side of the segmentation network's input and output.
const NET: usize = 256;
/// Mask level that counts as "person".
const INSIDE: f32 = 0.5;
/// Where the top of the head may be, in eye-to-mouth distances above the eye line. Below the
/// lower bound the mask has probably missed the hair; above the upper one it has taken
/// background for hair.
const HAIR_RANGE: (f32, f32) = (1.2, 3.5);
/// Top of the head when the mask cannot tell (the skull alone measures about 1.9).
const HAIR_DEFAULT: f32 = 2.1;
/// Holes in the subject's silhouette up to this many face-box areas are filled: the network
/// was unsure there (dark hair, a saturated dress); larger ones are real background (between
/// an arm and the body).
const HOLE_FACES: f32 = 0.6;
/// Soft mask values are kept this far outside the subject's region (in face-box heights),
/// fading to nothing: the hair and shoulder edges the matting refines.
const KEEP_BAND: f32 = 0.12;

/// The region segmented around a face, in face-box heights: half its width, how far above
/// the box's top and how far below it (every framing stays well inside: a frame is about two
/// and a half face heights tall).
const REGION: (f32, f32, f32) = (3.5, 2.0, 8.0);
/// The region is segmented alone when it is less than this share of the photo.
const REGION_SHARE: f32 = 0.5;
/// Largest side of the whole-photo plane built from a region's mask.
const MAX_PLANE: usize = 1024;

/// Half the width of the head (with hair) the mask is made convex over, in face-box widths.
const HEAD_HALF_WIDTH: f32 = 1.3;
/// Half the width of the subject's shoulders, in face-box widths: another person's body is
/// never cut away within it.
const SHOULDER_HALF_WIDTH: f32 = 1.7;
/// How far the protected shoulder line drops per face-box width away from the neck, in
/// face-box heights.
const SHOULDER_SLOPE: f32 = 0.6;

/// Fills `region` above the eye row `eye_y` within `half` of column `cx` (grid cells) so
/// each row and each column of the head is one run (only between cells already on: nothing
/// grows outward): a head with its hair or a hat has no bays
/// (the network is unsure over dark hair and ornaments, and a bay there shows as a grey smear
/// or a bite out of the crown).
fn head_made_convex(region: &mut Region, cx: f32, half: f32, eye_y: f32) {
    let (w, h) = (region.width, region.height);
    let x0 = (cx - half).floor().max(0.0) as usize;
    let x1 = ((cx + half).ceil().max(0.0) as usize).min(w);
    let y1 = (eye_y.max(0.0) as usize).min(h);
    if x0 >= x1 || y1 == 0 {
        return;
    }
    for y in 0..y1 {
        let row = &mut region.on[y * w..(y + 1) * w];
        let first = (x0..x1).find(|&x| row[x]);
        let last = (x0..x1).rev().find(|&x| row[x]);
        if let (Some(a), Some(b)) = (first, last) {
            row[a..=b].iter_mut().for_each(|v| *v = true);
        }
    }
    for x in x0..x1 {
        let top = (0..y1).find(|&y| region.on[y * w + x]);
        let bottom = (0..y1).rev().find(|&y| region.on[y * w + x]);
        if let (Some(a), Some(b)) = (top, bottom) {
            for y in a..=b {
                region.on[y * w + x] = true;
            }
        }
    }
}

/// Which side of the source photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// y = 0.
    Top,
    /// y = height.
    Bottom,
    /// x = 0.
    Left,
    /// x = width.
    Right,
}

impl Border {
    /// All four.
    pub const ALL: [Border; 4] = [Border::Top, Border::Bottom, Border::Left, Border::Right];
}

/// The network's person mask of the whole source photo.
#[derive(Debug, Clone)]
pub struct PersonMask {
    plane: Plane,
    width: u32,
    height: u32,
    /// How much of the person touches each border, along it (network resolution, smoothed).
    profiles: [Vec<f32>; 4],
}

impl PersonMask {
    /// Runs the segmentation network on a 256x256 copy of `image` (stretched, as the network
    /// was trained).
    pub fn segment(segmenter: &Segmenter, image: &RgbImage) -> Result<PersonMask, VisionError> {
        let input = resize(image, NET as u32, NET as u32);
        let mask = segmenter.network_mask(&input)?;
        Ok(PersonMask::from_mask(&mask, image.width(), image.height()))
    }

    /// Runs the network on the region of `image` around a face (`face_box` in photo pixels)
    /// where any headshot framing can reach, when that region is much smaller than the photo:
    /// a person small in a large photo (a full-length shot) then gets the network's whole
    /// resolution instead of a few cells. Outside the region the mask is zero. Falls back on
    /// [`PersonMask::segment`] when the region is most of the photo.
    pub fn segment_around(
        segmenter: &Segmenter,
        image: &RgbImage,
        face_box: crate::vision::BoundingBox,
    ) -> Result<PersonMask, VisionError> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        let fh = face_box.height.max(1.0);
        let cx = face_box.center().x;
        let x0 = (cx - REGION.0 * fh).max(0.0).floor();
        let x1 = (cx + REGION.0 * fh).min(w).ceil();
        let y0 = (face_box.y - REGION.1 * fh).max(0.0).floor();
        let y1 = (face_box.y + REGION.2 * fh).min(h).ceil();
        let (rw, rh) = (x1 - x0, y1 - y0);
        if rw < 2.0 || rh < 2.0 || rw * rh >= REGION_SHARE * w * h {
            return PersonMask::segment(segmenter, image);
        }
        let crop = image::imageops::crop_imm(image, x0 as u32, y0 as u32, rw as u32, rh as u32).to_image();
        let input = resize(&crop, NET as u32, NET as u32);
        let mask = segmenter.network_mask(&input)?;
        let local = Plane {
            width: mask.width() as usize,
            height: mask.height() as usize,
            data: mask.values().to_vec(),
        };
        // The whole photo at the region's resolution (capped), zero outside the region.
        let pw = ((NET as f32 * w / rw).round() as usize).clamp(1, MAX_PLANE);
        let ph = ((NET as f32 * h / rh).round() as usize).clamp(1, MAX_PLANE);
        let (cw, ch) = (w / pw as f32, h / ph as f32);
        let (lx, ly) = (local.width as f32 / rw, local.height as f32 / rh);
        let data = (0..pw * ph)
            .map(|i| {
                let (sx, sy) = (((i % pw) as f32 + 0.5) * cw, ((i / pw) as f32 + 0.5) * ch);
                if sx < x0 || sx >= x1 || sy < y0 || sy >= y1 {
                    0.0
                } else {
                    local.sample((sx - x0) * lx - 0.5, (sy - y0) * ly - 0.5)
                }
            })
            .collect();
        Ok(PersonMask::from_plane(
            Plane {
                width: pw,
                height: ph,
                data,
            },
            image.width(),
            image.height(),
        ))
    }

    /// Wraps a mask of any resolution that covers a `width` x `height` photo.
    pub fn from_mask(mask: &Mask, width: u32, height: u32) -> PersonMask {
        let plane = Plane {
            width: mask.width() as usize,
            height: mask.height() as usize,
            data: mask.values().to_vec(),
        };
        PersonMask::from_plane(plane, width, height)
    }

    fn from_plane(plane: Plane, width: u32, height: u32) -> PersonMask {
        let (pw, ph) = (plane.width, plane.height);
        let row = |y: usize| -> Vec<f32> { plane.data[y * pw..(y + 1) * pw].to_vec() };
        let col = |x: usize| -> Vec<f32> { (0..ph).map(|y| plane.data[y * pw + x]).collect() };
        let smooth = |v: Vec<f32>| {
            let mut p = Plane {
                width: v.len(),
                height: 1,
                data: v,
            };
            p.box_blur(3, 1);
            p.data
        };
        let profiles = [row(0), row(ph - 1), col(0), col(pw - 1)].map(smooth);
        PersonMask {
            plane,
            width,
            height,
            profiles,
        }
    }

    /// The mask of only the person `subject` belongs to: the confident region connected to
    /// the face (its small holes filled and its head made convex, where the network was
    /// unsure), the soft edge just around it, and nothing else: other people, and objects the
    /// network took for a person, become background. Another face's head and the body below it
    /// are cut away even where they touch the subject, except where the subject's own head and
    /// shoulders are. When the network missed the face itself the mask is left as is.
    pub fn isolate(&self, subject: &Face, others: &[Face]) -> PersonMask {
        let (pw, ph) = (self.plane.width, self.plane.height);
        let sx = pw as f32 / self.width as f32;
        let sy = ph as f32 / self.height as f32;
        let cell = |p: Point| -> Option<usize> {
            let (x, y) = ((p.x * sx).floor(), (p.y * sy).floor());
            (x >= 0.0 && y >= 0.0 && (x as usize) < pw && (y as usize) < ph)
                .then(|| y as usize * pw + x as usize)
        };
        let l = subject.landmarks;
        let eyes = Point::new(
            (l.left_eye.x + l.right_eye.x) / 2.0,
            (l.left_eye.y + l.right_eye.y) / 2.0,
        );
        let seeds: Vec<usize> = [
            subject.bbox.center(),
            l.nose,
            eyes,
            Point::new(
                (l.mouth_left.x + l.mouth_right.x) / 2.0,
                (l.mouth_left.y + l.mouth_right.y) / 2.0,
            ),
        ]
        .into_iter()
        .filter_map(cell)
        .collect();
        let values = self.without_others(subject, others);
        let confident = Region::at_least(&values, pw, ph, INSIDE);
        let mut kept = confident.keep_containing(&seeds);
        if kept.count() == 0 {
            return self.clone();
        }
        let face_cells = subject.bbox.area() * sx * sy;
        kept = kept.holes_filled((HOLE_FACES * face_cells) as usize);
        let centre = subject.bbox.center();
        head_made_convex(
            &mut kept,
            centre.x * sx,
            HEAD_HALF_WIDTH * subject.bbox.width * sx,
            eyes.y * sy,
        );
        let band = (KEEP_BAND * subject.bbox.height * sy).max(2.0);
        let distance = kept.distance_outside();
        let data: Vec<f32> = values
            .iter()
            .zip(kept.on.iter().zip(&distance))
            .zip(confident.on.iter())
            .map(|((&v, (&on, &d)), &sure)| {
                if on {
                    if sure { v } else { 1.0 }
                } else {
                    v * (1.0 - d / band).clamp(0.0, 1.0)
                }
            })
            .collect();
        PersonMask::from_plane(
            Plane {
                width: pw,
                height: ph,
                data,
            },
            self.width,
            self.height,
        )
    }

    /// The mask values with every other face's head, and its body below it, cut away; never
    /// within the subject's head or shoulders.
    fn without_others(&self, subject: &Face, others: &[Face]) -> Vec<f32> {
        let (pw, ph) = (self.plane.width, self.plane.height);
        debug_assert_eq!(self.plane.data.len(), pw * ph);
        let sx = pw as f32 / self.width as f32;
        let sy = ph as f32 / self.height as f32;
        let mut data = self.plane.data.clone();
        let centre = subject.bbox.center();
        let (fw, fh) = (subject.bbox.width, subject.bbox.height);
        let protected = |x: f32, y: f32| {
            let (dx, dy) = ((x - centre.x) / fw, (y - centre.y) / fh);
            let head = dx * dx + dy * dy < 0.8;
            // The shoulders slope down from the neck (trapezius): farther out, only lower.
            let shoulders =
                dx.abs() < SHOULDER_HALF_WIDTH && dy > 0.3 + SHOULDER_SLOPE * (dx.abs() - 0.5).max(0.0);
            head || shoulders
        };
        for other in others {
            let b = other.bbox;
            let c = b.center();
            for (i, v) in data.iter_mut().enumerate() {
                if *v == 0.0 {
                    continue;
                }
                let (x, y) = (((i % pw) as f32 + 0.5) / sx, ((i / pw) as f32 + 0.5) / sy);
                if protected(x, y) {
                    continue;
                }
                let (dx, dy) = ((x - c.x) / b.width, (y - c.y) / b.height);
                let head = dx * dx + dy * dy < 1.0 || (dy < 0.0 && dx.abs() < 0.9 && dy > -1.2);
                let body = y > c.y && dx.abs() < 2.0 && (x - c.x).abs() < (x - centre.x).abs();
                if head || body {
                    *v = 0.0;
                }
            }
        }
        data
    }

    /// The mask's own plane (network resolution, stretched over the photo).
    pub fn plane(&self) -> &Plane {
        &self.plane
    }

    /// The mask value at a source point.
    pub fn at(&self, p: Point) -> f32 {
        let sx = self.plane.width as f32 / self.width as f32;
        let sy = self.plane.height as f32 / self.height as f32;
        self.plane.sample(p.x * sx - 0.5, p.y * sy - 0.5)
    }

    /// `map` (output pixel -> source index coordinates) turned into output pixel -> mask index.
    pub fn mask_map(&self, map: &Affine) -> Affine {
        map.onto_resized(
            self.plane.width as f32 / self.width as f32,
            self.plane.height as f32 / self.height as f32,
        )
    }

    /// The coarse mask warped into an output frame.
    pub fn warped(&self, map: &Affine, width: usize, height: usize) -> Plane {
        self.plane.warped(&self.mask_map(map), width, height)
    }

    /// The top of the head, in aligned y (negative: above the eye line). Scans upward from the
    /// eyes along five columns across the face and keeps the highest point still inside the
    /// person; falls back on face proportions when the mask is unsure or the photo's top cuts
    /// the head.
    pub fn hair_top(&self, align: &Align, g: &FaceGeometry) -> f32 {
        let em = g.eye_mouth;
        let (lowest, highest) = (-HAIR_RANGE.0 * em, -HAIR_RANGE.1 * em);
        let step = (g.eye_distance / 40.0).max(0.5);
        let mut top = 0f32;
        let mut cut = false;
        for k in [-0.5f32, -0.25, 0.0, 0.25, 0.5] {
            let x = g.center_x + k * g.eye_distance;
            let mut y = 0f32;
            while y > highest {
                let p = align.to_source(Point::new(x, y - step));
                if !self.contains(p) {
                    cut |= self.at(align.to_source(Point::new(x, y))) >= INSIDE;
                    break;
                }
                if self.at(p) < INSIDE {
                    break;
                }
                y -= step;
            }
            top = top.min(y);
        }
        let estimate = -HAIR_DEFAULT * em;
        if cut {
            return top.min(estimate);
        }
        if top > lowest {
            return estimate;
        }
        top.max(highest)
    }

    fn contains(&self, p: Point) -> bool {
        p.x >= 0.0 && p.y >= 0.0 && p.x <= self.width as f32 && p.y <= self.height as f32
    }

    /// The most of the person the border cuts between source coordinates `from` and `to` along
    /// it (x for the top and bottom, y for the sides), 0..1; 0 for an empty range.
    pub fn cut_along(&self, border: Border, from: f32, to: f32) -> f32 {
        let (profile, length) = match border {
            Border::Top => (&self.profiles[0], self.width),
            Border::Bottom => (&self.profiles[1], self.width),
            Border::Left => (&self.profiles[2], self.height),
            Border::Right => (&self.profiles[3], self.height),
        };
        if to <= from {
            return 0.0;
        }
        let n = profile.len();
        let index = |v: f32| ((v / length as f32 * n as f32).floor().max(0.0) as usize).min(n - 1);
        profile[index(from)..=index(to)]
            .iter()
            .fold(0f32, |m, &v| m.max(v))
            .clamp(0.0, 1.0)
    }

    /// Distance from `p` to a border, in source pixels (negative outside the photo).
    pub fn distance(&self, border: Border, p: Point) -> f32 {
        match border {
            Border::Top => p.y,
            Border::Bottom => self.height as f32 - p.y,
            Border::Left => p.x,
            Border::Right => self.width as f32 - p.x,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100x100 photo whose person is a column from x = 30 to 70, from y = `top` down to the
    /// bottom edge.
    fn column(top: usize) -> PersonMask {
        let values = (0..100 * 100)
            .map(|i| {
                let (x, y) = (i % 100, i / 100);
                if (30..70).contains(&x) && y >= top {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        PersonMask::from_mask(&Mask::from_vec(100, 100, values).unwrap(), 100, 100)
    }

    fn geometry() -> (Align, FaceGeometry) {
        let align = Align {
            origin: Point::new(50.0, 50.0),
            cos: 1.0,
            sin: 0.0,
        };
        let g = FaceGeometry {
            eye_distance: 16.0,
            eye_mouth: 14.0,
            center_x: 0.0,
            nose_x: 0.0,
            chin: 26.0,
            face_height: 40.0,
            yaw_degrees: 0.0,
        };
        (align, g)
    }

    #[test]
    fn hair_top_follows_the_mask() {
        let (align, g) = geometry();
        let top = column(20).hair_top(&align, &g);
        assert!((top + 30.0).abs() < 1.0, "{top}");
    }

    #[test]
    fn a_head_cut_by_the_top_border_gets_the_proportional_estimate() {
        let (align, g) = geometry();
        let top = column(0).hair_top(&align, &g);
        assert!(top <= -HAIR_DEFAULT * g.eye_mouth, "{top}");
    }

    #[test]
    fn the_bottom_border_cuts_the_body_and_the_top_does_not() {
        let m = column(20);
        assert!(m.cut_along(Border::Bottom, 45.0, 55.0) > 0.9);
        assert!(m.cut_along(Border::Bottom, 0.0, 10.0) < 0.1);
        assert!(m.cut_along(Border::Top, 0.0, 100.0) < 0.1);
        assert_eq!(m.cut_along(Border::Bottom, 60.0, 40.0), 0.0);
        assert_eq!(m.distance(Border::Right, Point::new(90.0, 3.0)), 10.0);
    }
}
