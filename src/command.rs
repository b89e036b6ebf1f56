//! Chat commands and button actions, parsed once at the edge.
//!
//! Every front end turns what a user typed (or a platform's typed options) into a [`Command`]
//! with [`Command::parse`] or [`Command::from_parts`]; every button the core sends carries an
//! [`Action`] written by [`Action::encode`] and read back by [`Action::decode`]. Nothing else
//! in the code base looks inside command text or button data.

use std::fmt;

use headshot_models::{Crop, Mode};

use crate::address::UserKey;
use crate::job::JobId;

/// Backdrop names accepted by `/background`.
pub const BACKGROUNDS: [&str; 5] = ["white", "grey", "gradient", "blur", "dark"];

/// A chat command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/start`: welcome, and the consent question when it is still open.
    Start,
    /// `/help`.
    Help,
    /// `/styles`: the catalog with buttons.
    Styles,
    /// `/settings`: the user's settings with buttons.
    Settings,
    /// `/status`: the user's waiting and running jobs.
    Status,
    /// `/cancel`.
    Cancel,
    /// `/redo [STYLE]`: the last selfies again.
    Redo {
        /// Another style to use, as typed.
        style: Option<String>,
    },
    /// `/forget`: asks, then deletes everything of the user.
    Forget,
    /// `/privacy`.
    Privacy,
    /// `/quota`.
    Quota,
    /// `/agree`: consent.
    Agree,
    /// A settings change (`/style`, `/background`, `/mode`, `/crop`, `/variants`, `/delivery`).
    Set(Setting),
    /// A settings command whose value was not understood.
    BadValue(SettingKind),
    /// An operator command.
    Admin(Admin),
    /// Anything else, by name.
    Unknown(String),
}

/// Operator commands (`access.admins` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admin {
    /// `/stats`.
    Stats,
    /// `/pause REASON`.
    Pause(String),
    /// `/resume`.
    Resume,
    /// `/ban platform:id` (`true`) or `/unban platform:id`.
    Ban {
        /// Ban or lift the ban.
        ban: bool,
        /// The user, or why the argument is not one.
        target: Result<UserKey, String>,
    },
}

/// One settings change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// A style by name (checked against the catalog when applied).
    Style(String),
    /// A backdrop name or `#rrggbb`; `None` is the style's own.
    Background(Option<String>),
    /// Headshot or portrait rules.
    Mode(Mode),
    /// Framings.
    Crop(Crop),
    /// Variants per job (the range is checked against the configuration when applied).
    Variants(u32),
    /// Where results go.
    Delivery(DeliveryChoice),
}

/// Which setting a command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    /// `/style`.
    Style,
    /// `/background`.
    Background,
    /// `/mode`.
    Mode,
    /// `/crop`.
    Crop,
    /// `/variants`.
    Variants,
    /// `/delivery`.
    Delivery,
}

/// Where a user's results go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryChoice {
    /// The chat the selfie came from (a private thread on Discord).
    Here,
    /// The user's private chat.
    Private,
    /// A public thread (Discord).
    PublicThread,
}

impl SettingKind {
    /// The command name.
    pub fn name(self) -> &'static str {
        match self {
            SettingKind::Style => "style",
            SettingKind::Background => "background",
            SettingKind::Mode => "mode",
            SettingKind::Crop => "crop",
            SettingKind::Variants => "variants",
            SettingKind::Delivery => "delivery",
        }
    }

    fn from_name(name: &str) -> Option<SettingKind> {
        Some(match name {
            "style" => SettingKind::Style,
            "background" => SettingKind::Background,
            "mode" => SettingKind::Mode,
            "crop" => SettingKind::Crop,
            "variants" => SettingKind::Variants,
            "delivery" => SettingKind::Delivery,
            _ => return None,
        })
    }

    /// Parses the value of this setting (the first word, any case).
    pub fn parse(self, value: &str) -> Result<Setting, SettingKind> {
        let arg = value.split_whitespace().next().unwrap_or("").to_lowercase();
        let bad = Err(self);
        match self {
            SettingKind::Style if arg.is_empty() => bad,
            SettingKind::Style => Ok(Setting::Style(arg)),
            SettingKind::Background => {
                let hex =
                    arg.len() == 7 && arg.starts_with('#') && arg[1..].chars().all(|c| c.is_ascii_hexdigit());
                if BACKGROUNDS.contains(&arg.as_str()) || hex {
                    Ok(Setting::Background(Some(arg)))
                } else if arg == "default" {
                    Ok(Setting::Background(None))
                } else {
                    bad
                }
            }
            SettingKind::Mode => arg.parse().map(Setting::Mode).or(bad),
            SettingKind::Crop => arg.parse().map(Setting::Crop).or(bad),
            SettingKind::Variants => arg.parse().map(Setting::Variants).or(bad),
            SettingKind::Delivery => match arg.as_str() {
                "private" | "dm" => Ok(Setting::Delivery(DeliveryChoice::Private)),
                "here" | "thread" => Ok(Setting::Delivery(DeliveryChoice::Here)),
                "public" => Ok(Setting::Delivery(DeliveryChoice::PublicThread)),
                _ => bad,
            },
        }
    }
}

impl Setting {
    /// The setting this changes.
    pub fn kind(&self) -> SettingKind {
        match self {
            Setting::Style(_) => SettingKind::Style,
            Setting::Background(_) => SettingKind::Background,
            Setting::Mode(_) => SettingKind::Mode,
            Setting::Crop(_) => SettingKind::Crop,
            Setting::Variants(_) => SettingKind::Variants,
            Setting::Delivery(_) => SettingKind::Delivery,
        }
    }

    fn value(&self) -> String {
        match self {
            Setting::Style(name) => name.clone(),
            Setting::Background(bg) => bg.clone().unwrap_or_else(|| "default".into()),
            Setting::Mode(mode) => mode.to_string(),
            Setting::Crop(crop) => crop.to_string(),
            Setting::Variants(n) => n.to_string(),
            Setting::Delivery(DeliveryChoice::Here) => "here".into(),
            Setting::Delivery(DeliveryChoice::Private) => "private".into(),
            Setting::Delivery(DeliveryChoice::PublicThread) => "public".into(),
        }
    }
}

impl Command {
    /// A line of chat text: `Some` when it is a command (`/name@bot args`; the addressee is
    /// dropped, the name is case-insensitive).
    pub fn parse(line: &str) -> Option<Command> {
        let rest = line.trim_start().strip_prefix('/')?;
        let (head, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let name = head.split('@').next().unwrap_or("");
        (!name.is_empty()).then(|| Command::from_parts(name, args))
    }

    /// A command from its name and argument text, as platforms with typed commands give them.
    pub fn from_parts(name: &str, args: &str) -> Command {
        let name = name.to_lowercase();
        let args = args.trim();
        if let Some(kind) = SettingKind::from_name(&name) {
            return match kind.parse(args) {
                Ok(setting) => Command::Set(setting),
                Err(kind) => Command::BadValue(kind),
            };
        }
        match name.as_str() {
            "start" => Command::Start,
            "help" => Command::Help,
            "styles" => Command::Styles,
            "settings" => Command::Settings,
            "status" => Command::Status,
            "cancel" => Command::Cancel,
            "redo" => Command::Redo {
                style: (!args.is_empty()).then(|| args.to_string()),
            },
            "forget" => Command::Forget,
            "privacy" => Command::Privacy,
            "quota" => Command::Quota,
            "agree" => Command::Agree,
            "stats" => Command::Admin(Admin::Stats),
            "pause" => Command::Admin(Admin::Pause(if args.is_empty() {
                "maintenance".into()
            } else {
                args.to_string()
            })),
            "resume" => Command::Admin(Admin::Resume),
            "ban" | "unban" => Command::Admin(Admin::Ban {
                ban: name == "ban",
                target: args.parse(),
            }),
            _ => Command::Unknown(name),
        }
    }
}

/// What a button does when pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Consent given.
    Agree,
    /// Consent refused.
    Decline,
    /// Show the styles.
    Styles,
    /// Change a setting.
    Set(Setting),
    /// The same selfies again, next variants.
    Reroll(JobId),
    /// Only the square results of a job, as files.
    Square(JobId),
    /// The answer to `/forget`'s question.
    Forget {
        /// Yes, delete everything.
        confirmed: bool,
    },
}

impl Action {
    /// The button data (Telegram allows 64 bytes; job ids are 26).
    pub fn encode(&self) -> String {
        self.to_string()
    }

    /// Reads button data back; `None` for data no current button carries.
    pub fn decode(data: &str) -> Option<Action> {
        let (verb, arg) = data.split_once(':').unwrap_or((data, ""));
        Some(match verb {
            "agree" => Action::Agree,
            "decline" => Action::Decline,
            "styles" => Action::Styles,
            "reroll" if !arg.is_empty() => Action::Reroll(arg.to_string()),
            "square" if !arg.is_empty() => Action::Square(arg.to_string()),
            "forget" => Action::Forget {
                confirmed: arg == "yes",
            },
            other => Action::Set(SettingKind::from_name(other)?.parse(arg).ok()?),
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Agree => f.write_str("agree"),
            Action::Decline => f.write_str("decline"),
            Action::Styles => f.write_str("styles"),
            Action::Set(s) => write!(f, "{}:{}", s.kind().name(), s.value()),
            Action::Reroll(job) => write!(f, "reroll:{job}"),
            Action::Square(job) => write!(f, "square:{job}"),
            Action::Forget { confirmed } => write!(f, "forget:{}", if *confirmed { "yes" } else { "no" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Platform;

    #[test]
    fn lines_parse_once_into_commands() {
        assert_eq!(
            Command::parse("/Style@Bot  Creative"),
            Some(Command::Set(Setting::Style("creative".into())))
        );
        assert_eq!(Command::parse("/help"), Some(Command::Help));
        assert_eq!(Command::parse("hello /help"), None);
        assert_eq!(Command::parse("/"), None);
        assert_eq!(
            Command::parse("/crop square"),
            Some(Command::Set(Setting::Crop(Crop::Square)))
        );
        assert_eq!(
            Command::parse("/crop wide"),
            Some(Command::BadValue(SettingKind::Crop))
        );
        assert_eq!(
            Command::parse("/variants x"),
            Some(Command::BadValue(SettingKind::Variants))
        );
        assert_eq!(
            Command::parse("/style"),
            Some(Command::BadValue(SettingKind::Style))
        );
        assert_eq!(
            Command::parse("/background #A0b0C0"),
            Some(Command::Set(Setting::Background(Some("#a0b0c0".into()))))
        );
        assert_eq!(
            Command::parse("/background #12345"),
            Some(Command::BadValue(SettingKind::Background))
        );
        assert_eq!(
            Command::parse("/background default"),
            Some(Command::Set(Setting::Background(None)))
        );
        assert_eq!(
            Command::parse("/delivery dm"),
            Some(Command::Set(Setting::Delivery(DeliveryChoice::Private)))
        );
        assert_eq!(
            Command::parse("/redo Creative"),
            Some(Command::Redo {
                style: Some("Creative".into())
            })
        );
        assert_eq!(
            Command::parse("/pause"),
            Some(Command::Admin(Admin::Pause("maintenance".into())))
        );
        assert_eq!(
            Command::parse("/ban telegram:42"),
            Some(Command::Admin(Admin::Ban {
                ban: true,
                target: Ok(UserKey::new(Platform::Telegram, "42"))
            }))
        );
        assert!(matches!(
            Command::parse("/unban nobody"),
            Some(Command::Admin(Admin::Ban {
                ban: false,
                target: Err(_)
            }))
        ));
        assert_eq!(
            Command::parse("/Frobnicate"),
            Some(Command::Unknown("frobnicate".into()))
        );
    }

    #[test]
    fn every_action_survives_its_encoding() {
        let actions = [
            Action::Agree,
            Action::Decline,
            Action::Styles,
            Action::Set(Setting::Style("corporate".into())),
            Action::Set(Setting::Mode(Mode::Portrait)),
            Action::Set(Setting::Crop(Crop::Master)),
            Action::Set(Setting::Crop(Crop::Both)),
            Action::Set(Setting::Variants(3)),
            Action::Set(Setting::Delivery(DeliveryChoice::Private)),
            Action::Set(Setting::Delivery(DeliveryChoice::Here)),
            Action::Reroll("01HZX3V0A1B2C3D4E5F6G7H8J9".into()),
            Action::Square("01HZX3V0A1B2C3D4E5F6G7H8J9".into()),
            Action::Forget { confirmed: true },
            Action::Forget { confirmed: false },
        ];
        for action in actions {
            let data = action.encode();
            assert!(data.len() <= 64, "{data} is over Telegram's 64 bytes");
            assert_eq!(Action::decode(&data), Some(action), "{data}");
        }
        assert_eq!(Action::decode("reroll:"), None);
        assert_eq!(Action::decode("teleport:now"), None);
        assert_eq!(Action::decode("crop:7:3"), None);
    }
}
