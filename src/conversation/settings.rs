//! `/style`, `/background`, `/mode`, `/crop`, `/variants`, `/delivery`, `/styles`, `/settings`.

use headshot_models::{Crop, Mode};

use super::user_record;
use crate::chat::{Button, ChatRef, Outbound, UserKey};
use crate::command::{Action, DeliveryChoice, Setting, SettingKind};
use crate::job::Settings;
use crate::runtime::Core;
use crate::store::StoreError;
use crate::text;

fn update(core: &Core, user: &UserKey, change: impl FnOnce(&mut Settings)) -> Result<Settings, StoreError> {
    let mut record = user_record(core, user)?;
    change(&mut record.settings);
    core.store.put_user(user, &record)?;
    Ok(record.settings)
}

/// Applies a settings change and returns the reply.
pub(super) fn apply(core: &Core, user: &UserKey, setting: Setting) -> Result<String, StoreError> {
    Ok(match setting {
        Setting::Style(name) => match core.catalog.get(&name) {
            Some(style) => {
                let (n, mode) = (style.name.clone(), style.mode);
                update(core, user, |s| {
                    s.style = n;
                    s.mode = mode;
                })?;
                text::style_set(style)
            }
            None => text::unknown_style(&name, &core.catalog),
        },
        Setting::Background(Some(name)) => {
            update(core, user, |s| s.background = Some(name.clone()))?;
            text::setting_set("Background", &name)
        }
        Setting::Background(None) => {
            update(core, user, |s| s.background = None)?;
            text::setting_set("Background", "the style's default")
        }
        Setting::Mode(mode) => {
            let current = user_record(core, user)?.settings;
            let style = if current.style(&core.catalog).mode == mode {
                current.style
            } else {
                core.catalog
                    .of_mode(mode)
                    .next()
                    .map(|s| s.name.clone())
                    .unwrap_or(current.style)
            };
            update(core, user, |s| {
                s.mode = mode;
                s.style = style.clone();
            })?;
            format!("{} (style {style})", text::setting_set("Mode", &mode.to_string()))
        }
        Setting::Crop(crop) => {
            update(core, user, |s| s.crop = Some(crop))?;
            text::setting_set("Crop", &crop.to_string())
        }
        Setting::Variants(n) if (1..=core.config.jobs.max_variants).contains(&n) => {
            update(core, user, |s| s.variants = n)?;
            text::setting_set("Variants", &n.to_string())
        }
        Setting::Variants(_) => expected(core, SettingKind::Variants),
        Setting::Delivery(DeliveryChoice::Private) => {
            update(core, user, |s| s.private_delivery = true)?;
            text::setting_set("Delivery", "private chat")
        }
        Setting::Delivery(DeliveryChoice::Here) => {
            update(core, user, |s| {
                s.private_delivery = false;
                s.public_thread = false;
            })?;
            text::setting_set("Delivery", "this chat (a private thread on Discord)")
        }
        Setting::Delivery(DeliveryChoice::PublicThread) => {
            update(core, user, |s| {
                s.private_delivery = false;
                s.public_thread = true;
            })?;
            text::setting_set("Delivery", "this chat (a public thread on Discord)")
        }
    })
}

/// The reply to a value a setting does not take.
pub(super) fn expected(core: &Core, kind: SettingKind) -> String {
    let variants;
    let expected = match kind {
        SettingKind::Style => "a style name; see /styles",
        SettingKind::Background => "white, grey, gradient, blur, dark, default or a #rrggbb colour",
        SettingKind::Mode => "headshot or portrait",
        SettingKind::Crop => "4:5, 1:1 or both",
        SettingKind::Variants => {
            variants = format!("a number from 1 to {}", core.config.jobs.max_variants);
            &variants
        }
        SettingKind::Delivery => "here, private, thread or public",
    };
    text::bad_value(kind.name(), expected)
}

pub(super) async fn show_styles(core: &Core, chat: &ChatRef) {
    let buttons: Vec<Vec<Button>> = core
        .catalog
        .styles()
        .chunks(3)
        .map(|row| {
            row.iter()
                .map(|s| Button::new(&s.title, &Action::Set(Setting::Style(s.name.clone()))))
                .collect()
        })
        .collect();
    let text = format!("{}\n{}", text::styles_header(), text::style_lines(&core.catalog));
    core.frontends.send(chat, Outbound::Text { text, buttons }).await;
}

pub(super) async fn show_settings(core: &Core, user: &UserKey, chat: &ChatRef) -> Result<(), StoreError> {
    let settings = user_record(core, user)?.settings;
    let style = settings.style(&core.catalog);
    let set = |label: &str, setting: Setting| Button::new(label, &Action::Set(setting));
    let buttons = vec![
        vec![
            set("Headshot", Setting::Mode(Mode::Headshot)),
            set("Portrait", Setting::Mode(Mode::Portrait)),
        ],
        vec![
            set("4:5", Setting::Crop(Crop::Master)),
            set("1:1", Setting::Crop(Crop::Square)),
            set("Both", Setting::Crop(Crop::Both)),
        ],
        (1..=core.config.jobs.max_variants)
            .map(|n| {
                let label = format!("{n} variant{}", if n > 1 { "s" } else { "" });
                set(&label, Setting::Variants(n))
            })
            .collect(),
        vec![
            set("Deliver here", Setting::Delivery(DeliveryChoice::Here)),
            set("Deliver privately", Setting::Delivery(DeliveryChoice::Private)),
        ],
    ];
    let text = text::settings(&settings, style);
    core.frontends.send(chat, Outbound::Text { text, buttons }).await;
    Ok(())
}
