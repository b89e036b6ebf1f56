//! Numbered variations of a style: the deterministic studio has no randomness, so a reroll
//! gets the next variation (a slightly lighter or darker backdrop, warmer or cooler light, a
//! stronger or softer glow) instead of a new random draw.

/// How variant `n` departs from the style as written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variation {
    /// Backdrop brightness, -1..1 (about -15%..+15% in linear light).
    pub tone: f32,
    /// Light warmth added to the style's own (red up and blue down by this fraction).
    pub warmth: f32,
    /// Added strength of the backdrop's centre glow.
    pub glow: f32,
}

/// The first few variants, chosen by hand to be visibly different and all on-brand.
const TABLE: [Variation; 4] = [
    Variation {
        tone: 0.0,
        warmth: 0.0,
        glow: 0.0,
    },
    Variation {
        tone: 0.5,
        warmth: 0.02,
        glow: 0.03,
    },
    Variation {
        tone: -0.5,
        warmth: -0.015,
        glow: -0.02,
    },
    Variation {
        tone: 0.25,
        warmth: 0.035,
        glow: 0.05,
    },
];

impl Variation {
    /// Variant number `n` (1 is the style itself; 0 is treated as 1).
    pub fn of(n: u32) -> Variation {
        let i = n.max(1) as usize - 1;
        if let Some(v) = TABLE.get(i) {
            return *v;
        }
        // Past the table: spread further variants evenly with a fixed integer hash.
        let h = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let unit = |shift: u32| ((h >> shift) & 0xFFFF) as f32 / 65535.0;
        Variation {
            tone: -0.6 + 1.2 * unit(8),
            warmth: -0.02 + 0.06 * unit(24),
            glow: -0.03 + 0.09 * unit(40),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_fixed_and_distinct() {
        assert_eq!(Variation::of(0), Variation::of(1));
        assert_eq!(Variation::of(1).tone, 0.0);
        assert_eq!(Variation::of(7), Variation::of(7));
        let all: Vec<Variation> = (1..=12).map(Variation::of).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(a.tone.abs() <= 0.6 && a.warmth.abs() <= 0.04 + 1e-6);
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
