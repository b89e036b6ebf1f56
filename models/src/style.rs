//! The style catalog: what each style looks like, as data shared by the core and the generators.
//!
//! The catalog is `models/styles.toml`, embedded at build time so the binary finds it from any
//! working directory; an operator may replace it with their own file (`Catalog::from_toml`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The catalog shipped with the binary.
pub const BUILTIN_CATALOG: &str = include_str!("../styles.toml");

/// Headshot rules or portrait freedom (`docs/headshot-rules.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Tight, bright, even, empty background.
    Headshot,
    /// Dramatic light, context backgrounds and other crops allowed.
    Portrait,
}

/// Which framings a job produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Crop {
    /// The vertical 4:5 master only.
    #[serde(rename = "4:5")]
    Master,
    /// The square 1:1 avatar only.
    #[serde(rename = "1:1")]
    Square,
    /// Both framings.
    #[serde(rename = "both")]
    Both,
}

/// How the backdrop behind the person is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackdropKind {
    /// One flat colour.
    Solid,
    /// A vertical studio gradient from the first colour (top) to the second, with a soft glow.
    Gradient,
    /// The photo's own background, lens-blurred (portrait).
    BlurOriginal,
    /// The photo's own background, darkened toward the first colour (portrait).
    DarkenOriginal,
}

/// A backdrop: its kind and colours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backdrop {
    /// How it is made.
    pub kind: BackdropKind,
    /// `#rrggbb` colours, parsed by [`Backdrop::rgb`].
    pub colors: Vec<String>,
}

/// The light applied to the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lighting {
    /// Even, shadow-free studio light.
    Even,
    /// Even light with a warm tone.
    SoftWarm,
    /// Even light with a little more contrast.
    Crisp,
    /// Directional low-key light (portrait).
    LowKey,
    /// The photo's light, gently normalised (portrait).
    Natural,
    /// Black and white (portrait).
    Mono,
}

/// One entry of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Style {
    /// Short lowercase name used in commands (`/style corporate`).
    pub name: String,
    /// Human title for buttons.
    pub title: String,
    /// Which rules the style's outputs are held to.
    pub mode: Mode,
    /// One sentence for the catalog listing.
    pub description: String,
    /// Background behind the person.
    pub backdrop: Backdrop,
    /// Light applied to the person.
    pub lighting: Lighting,
    /// Prompt for attire and setting (diffusion).
    pub attire_prompt: String,
    /// What the diffusion generator must avoid.
    pub negative_prompt: String,
    /// Framings produced unless the user chose otherwise.
    pub default_crop: Crop,
    /// The diffusion generator's steps, guidance and strength for this style (each falls back
    /// to the `[diffusion]` configuration when absent).
    #[serde(default, skip_serializing_if = "Tuning::is_empty")]
    pub diffusion: Tuning,
}

/// Per-style diffusion settings; `None` uses the operator's configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tuning {
    /// Denoising steps, 1..=150.
    pub steps: Option<usize>,
    /// Classifier-free guidance, 1..=30.
    pub guidance: Option<f64>,
    /// How much of the studio picture is re-noised, 0.05..=1 (1: attire and background
    /// painted from noise; lower keeps more of the studio picture's layout and colours).
    pub strength: Option<f64>,
}

impl Tuning {
    /// No field set.
    pub fn is_empty(&self) -> bool {
        *self == Tuning::default()
    }
}

/// The whole catalog, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    styles: Vec<Style>,
}

/// Why a catalog file is not usable.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The TOML does not parse or a field is wrong.
    #[error("style catalog: {0}")]
    Parse(#[from] toml::de::Error),
    /// Two styles share a name.
    #[error("style catalog: the name `{0}` is used twice")]
    Duplicate(String),
    /// A colour is not `#rrggbb`, or a backdrop lacks the colours it needs.
    #[error("style catalog: style `{style}`: {problem}")]
    Invalid {
        /// The style at fault.
        style: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The file has no style.
    #[error("style catalog: no style defined")]
    Empty,
}

#[derive(Deserialize)]
struct CatalogFile {
    style: Vec<Style>,
}

impl Catalog {
    /// The catalog embedded in the binary.
    pub fn builtin() -> Catalog {
        Catalog::from_toml(BUILTIN_CATALOG).expect("the embedded catalog is valid (tested)")
    }

    /// Parses and validates a catalog.
    pub fn from_toml(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile = toml::from_str(text)?;
        if file.style.is_empty() {
            return Err(CatalogError::Empty);
        }
        let mut seen = std::collections::HashSet::new();
        for style in &file.style {
            if !seen.insert(style.name.clone()) {
                return Err(CatalogError::Duplicate(style.name.clone()));
            }
            style.validate()?;
        }
        Ok(Catalog { styles: file.style })
    }

    /// Every style, in catalog order.
    pub fn styles(&self) -> &[Style] {
        &self.styles
    }

    /// The style with this name (case-insensitive; `real_estate` matches `real-estate`).
    pub fn get(&self, name: &str) -> Option<&Style> {
        let wanted = name.trim().to_lowercase().replace(['_', ' '], "-");
        self.styles.iter().find(|s| s.name == wanted)
    }

    /// The style used when a user chose none: the first headshot style.
    pub fn default_style(&self) -> &Style {
        self.styles
            .iter()
            .find(|s| s.mode == Mode::Headshot)
            .unwrap_or(&self.styles[0])
    }

    /// Styles of one mode.
    pub fn of_mode(&self, mode: Mode) -> impl Iterator<Item = &Style> {
        self.styles.iter().filter(move |s| s.mode == mode)
    }
}

impl Style {
    fn validate(&self) -> Result<(), CatalogError> {
        let invalid = |problem: String| CatalogError::Invalid {
            style: self.name.clone(),
            problem,
        };
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            return Err(invalid("the name must be lowercase letters and dashes".into()));
        }
        let needed = match self.backdrop.kind {
            BackdropKind::Solid | BackdropKind::DarkenOriginal => 1,
            BackdropKind::Gradient => 2,
            BackdropKind::BlurOriginal => 0,
        };
        let t = &self.diffusion;
        if t.steps.is_some_and(|s| !(1..=150).contains(&s)) {
            return Err(invalid("diffusion.steps must be 1..=150".into()));
        }
        if t.guidance.is_some_and(|g| !(1.0..=30.0).contains(&g)) {
            return Err(invalid("diffusion.guidance must be 1..=30".into()));
        }
        if t.strength.is_some_and(|s| !(0.05..=1.0).contains(&s)) {
            return Err(invalid("diffusion.strength must be 0.05..=1".into()));
        }
        if self.backdrop.colors.len() < needed {
            return Err(invalid(format!("the backdrop needs {needed} colour(s)")));
        }
        for c in &self.backdrop.colors {
            parse_hex(c).ok_or_else(|| invalid(format!("`{c}` is not a #rrggbb colour")))?;
        }
        Ok(())
    }
}

impl Backdrop {
    /// The colours as RGB triples (validated when the catalog loads).
    pub fn rgb(&self) -> Vec<[u8; 3]> {
        self.colors.iter().filter_map(|c| parse_hex(c)).collect()
    }
}

fn parse_hex(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Headshot => "headshot",
            Mode::Portrait => "portrait",
        })
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "headshot" => Ok(Mode::Headshot),
            "portrait" => Ok(Mode::Portrait),
            other => Err(format!("unknown mode `{other}`")),
        }
    }
}

impl fmt::Display for Crop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Crop::Master => "4:5",
            Crop::Square => "1:1",
            Crop::Both => "both",
        })
    }
}

impl FromStr for Crop {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "4:5" | "4x5" | "master" | "vertical" => Ok(Crop::Master),
            "1:1" | "1x1" | "square" | "avatar" => Ok(Crop::Square),
            "both" => Ok(Crop::Both),
            other => Err(format!("unknown crop `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_eight_headshot_and_four_portrait_styles() {
        let catalog = Catalog::builtin();
        assert!(catalog.of_mode(Mode::Headshot).count() >= 8);
        assert!(catalog.of_mode(Mode::Portrait).count() >= 4);
        assert_eq!(catalog.default_style().name, "corporate");
        assert_eq!(catalog.get("Real_Estate").unwrap().name, "real-estate");
        assert!(catalog.get("nope").is_none());
    }

    #[test]
    fn bad_catalogs_are_refused_with_the_reason() {
        let base = BUILTIN_CATALOG;
        let doubled = format!("{base}\n{}", &base[base.find("[[style]]").unwrap()..]);
        assert!(matches!(
            Catalog::from_toml(&doubled),
            Err(CatalogError::Duplicate(_))
        ));
        let bad_colour = base.replacen("#e9ebee", "#zzzzzz", 1);
        let err = Catalog::from_toml(&bad_colour).unwrap_err().to_string();
        assert!(err.contains("corporate") && err.contains("#zzzzzz"), "{err}");
        assert!(matches!(
            Catalog::from_toml("style = []"),
            Err(CatalogError::Empty)
        ));
    }

    #[test]
    fn styles_carry_their_own_diffusion_settings() {
        let catalog = Catalog::builtin();
        let executive = catalog.get("executive").unwrap().diffusion;
        assert_eq!((executive.steps, executive.guidance), (Some(25), Some(8.5)));
        assert_eq!(catalog.get("tech").unwrap().diffusion.strength, Some(0.9));
        assert!(catalog.get("corporate").unwrap().diffusion.is_empty());
        let base = BUILTIN_CATALOG;
        for (bad, field) in [
            ("{ steps = 0 }", "steps"),
            ("{ guidance = 40.0 }", "guidance"),
            ("{ strength = 0.0 }", "strength"),
        ] {
            let text = base.replacen("{ steps = 25, guidance = 8.5 }", bad, 1);
            let err = Catalog::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains("executive") && err.contains(field), "{err}");
        }
        let unknown = base.replacen("{ steps = 25, guidance = 8.5 }", "{ stpes = 25 }", 1);
        assert!(Catalog::from_toml(&unknown).is_err());
    }

    #[test]
    fn crop_and_mode_parse_from_chat_words() {
        assert_eq!("4:5".parse::<Crop>().unwrap(), Crop::Master);
        assert_eq!("SQUARE".parse::<Crop>().unwrap(), Crop::Square);
        assert_eq!("both".parse::<Crop>().unwrap(), Crop::Both);
        assert!("3:2".parse::<Crop>().is_err());
        assert_eq!("Portrait".parse::<Mode>().unwrap(), Mode::Portrait);
    }
}
