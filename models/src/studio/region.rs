//! Binary regions on a pixel grid: connected components, hole filling and distances, the
//! tools that turn a soft person mask into one subject and a trimap.

use std::collections::VecDeque;

/// A row-major grid of booleans.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub width: usize,
    pub height: usize,
    pub on: Vec<bool>,
}

impl Region {
    /// The cells where `values` is at least `level`.
    pub fn at_least(values: &[f32], width: usize, height: usize, level: f32) -> Region {
        assert_eq!(values.len(), width * height);
        Region {
            width,
            height,
            on: values.iter().map(|&v| v >= level).collect(),
        }
    }

    /// How many cells are on.
    pub fn count(&self) -> usize {
        self.on.iter().filter(|&&b| b).count()
    }

    /// Connected components (4-neighbourhood) of the cells that are on: a label per cell
    /// (0: off, 1..=n: component) and the number of components.
    pub fn components(&self) -> (Vec<u32>, u32) {
        flood(&self.on, self.width, self.height)
    }

    /// Only the components that hold at least one of `seeds` (cell indices).
    pub fn keep_containing(&self, seeds: &[usize]) -> Region {
        let (labels, _) = self.components();
        let mut keep = std::collections::HashSet::new();
        for &s in seeds {
            if s < labels.len() && labels[s] != 0 {
                keep.insert(labels[s]);
            }
        }
        Region {
            width: self.width,
            height: self.height,
            on: labels.iter().map(|l| *l != 0 && keep.contains(l)).collect(),
        }
    }

    /// Only the largest component (empty if none).
    pub fn largest(&self) -> Region {
        let (labels, n) = self.components();
        let mut area = vec![0usize; n as usize + 1];
        for &l in &labels {
            area[l as usize] += 1;
        }
        area[0] = 0;
        let best = (1..=n as usize).max_by_key(|&l| area[l]).unwrap_or(0) as u32;
        Region {
            width: self.width,
            height: self.height,
            on: labels.iter().map(|&l| l != 0 && l == best).collect(),
        }
    }

    /// The region with its holes filled: every off component that does not touch the grid's
    /// border and has at most `max_area` cells is turned on.
    pub fn holes_filled(&self, max_area: usize) -> Region {
        let off: Vec<bool> = self.on.iter().map(|b| !b).collect();
        let (labels, n) = flood(&off, self.width, self.height);
        let mut area = vec![0usize; n as usize + 1];
        let mut border = vec![false; n as usize + 1];
        let (w, h) = (self.width, self.height);
        for (i, &l) in labels.iter().enumerate() {
            area[l as usize] += 1;
            let (x, y) = (i % w, i / w);
            if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
                border[l as usize] = true;
            }
        }
        let on = labels
            .iter()
            .zip(&self.on)
            .map(|(&l, &on)| on || (l != 0 && !border[l as usize] && area[l as usize] <= max_area))
            .collect();
        Region {
            width: w,
            height: h,
            on,
        }
    }

    /// Per cell, the distance (in cells, chamfer 3-4 approximation of Euclidean) to the
    /// nearest cell that is on (0 on the region itself).
    pub fn distance_outside(&self) -> Vec<f32> {
        chamfer(&self.on, self.width, self.height)
    }

    /// Per cell, the distance to the nearest cell that is off (0 outside the region).
    pub fn distance_inside(&self) -> Vec<f32> {
        let off: Vec<bool> = self.on.iter().map(|b| !b).collect();
        chamfer(&off, self.width, self.height)
    }
}

fn flood(on: &[bool], w: usize, h: usize) -> (Vec<u32>, u32) {
    let mut labels = vec![0u32; w * h];
    let mut next = 0u32;
    let mut queue = VecDeque::new();
    for start in 0..w * h {
        if !on[start] || labels[start] != 0 {
            continue;
        }
        next += 1;
        labels[start] = next;
        queue.push_back(start);
        while let Some(i) = queue.pop_front() {
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if on[j] && labels[j] == 0 {
                    labels[j] = next;
                    queue.push_back(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
    }
    (labels, next)
}

/// Two-pass chamfer distance to the nearest `target` cell, in cells.
fn chamfer(target: &[bool], w: usize, h: usize) -> Vec<f32> {
    const FAR: u32 = u32::MAX / 4;
    let mut d: Vec<u32> = target.iter().map(|&t| if t { 0 } else { FAR }).collect();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let mut v = d[i];
            if x > 0 {
                v = v.min(d[i - 1] + 3);
            }
            if y > 0 {
                v = v.min(d[i - w] + 3);
                if x > 0 {
                    v = v.min(d[i - w - 1] + 4);
                }
                if x + 1 < w {
                    v = v.min(d[i - w + 1] + 4);
                }
            }
            d[i] = v;
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let i = y * w + x;
            let mut v = d[i];
            if x + 1 < w {
                v = v.min(d[i + 1] + 3);
            }
            if y + 1 < h {
                v = v.min(d[i + w] + 3);
                if x + 1 < w {
                    v = v.min(d[i + w + 1] + 4);
                }
                if x > 0 {
                    v = v.min(d[i + w - 1] + 4);
                }
            }
            d[i] = v;
        }
    }
    d.into_iter().map(|v| v as f32 / 3.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&str]) -> Region {
        let width = rows[0].len();
        Region {
            width,
            height: rows.len(),
            on: rows.iter().flat_map(|r| r.chars().map(|c| c == '#')).collect(),
        }
    }

    #[test]
    fn only_the_seeded_component_is_kept() {
        let r = grid(&["##..#", "##..#", ".....", "..###"]);
        let (_, n) = r.components();
        assert_eq!(n, 3);
        let kept = r.keep_containing(&[0]);
        assert_eq!(kept.count(), 4);
        assert!(kept.on[0] && !kept.on[4] && !kept.on[17]);
    }

    #[test]
    fn enclosed_small_holes_are_filled_and_open_bays_are_not() {
        let r = grid(&["#####.", "#..#..", "#####.", "......"]);
        let filled = r.holes_filled(4);
        assert!(filled.on[7] && filled.on[8]);
        assert!(!filled.on[10] && !filled.on[5]);
        assert_eq!(r.holes_filled(1).count(), r.count());
    }

    #[test]
    fn distances_grow_away_from_the_region() {
        let r = grid(&["#....", ".....", "....."]);
        let d = r.distance_outside();
        assert_eq!(d[0], 0.0);
        assert!((d[4] - 4.0).abs() < 1e-4);
        assert!(d[2 * 5 + 2] > 2.5 && d[2 * 5 + 2] < 3.1);
        let inside = grid(&["#####", "#####", "#####"]).distance_inside();
        assert!(inside.iter().all(|&v| v >= 1e8));
    }
}
