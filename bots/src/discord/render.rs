//! How the core's messages look on Discord: buttons and menus, embeds, thread names, and
//! images re-encoded to fit the upload limit.

use headshot::command::Setting;
use headshot::{Action, Attachment, Button};
use serenity::all::{
    ButtonStyle, CreateActionRow, CreateButton, CreateEmbed, CreateSelectMenu, CreateSelectMenuKind,
    CreateSelectMenuOption,
};

use super::front::Extra;
use super::ids::{Component, CustomId};

/// The core's buttons as Discord components: style pickers become one select menu, results get
/// a Delete button; in servers every custom id names the requester (`<uid>|data`).
pub fn components(rows: &[Vec<Button>], owner: Option<u64>, key: &str) -> Vec<CreateActionRow> {
    let tag = |component: Component| CustomId { owner, component }.to_string();
    let all: Vec<&Button> = rows.iter().flatten().collect();
    if all.is_empty() {
        return Vec::new();
    }
    let action = |b: &Button| Action::decode(&b.data);
    if all.len() > 1
        && all
            .iter()
            .all(|b| matches!(action(b), Some(Action::Set(Setting::Style(_)))))
    {
        let options = all
            .iter()
            .take(25)
            .map(|b| {
                CreateSelectMenuOption::new(b.label.chars().take(100).collect::<String>(), b.data.clone())
            })
            .collect();
        let menu = CreateSelectMenu::new(tag(Component::Pick), CreateSelectMenuKind::String { options })
            .placeholder("Pick a style");
        return vec![CreateActionRow::SelectMenu(menu)];
    }
    let mut buttons: Vec<CreateButton> = all
        .iter()
        .map(|b| {
            CreateButton::new(tag(Component::Core(b.data.clone())))
                .label(b.label.chars().take(80).collect::<String>())
                .style(ButtonStyle::Secondary)
        })
        .collect();
    if all.iter().any(|b| matches!(action(b), Some(Action::Reroll(_)))) {
        buttons.push(
            CreateButton::new(tag(Component::Delete(key.to_string())))
                .label("Delete")
                .style(ButtonStyle::Danger),
        );
    }
    buttons
        .chunks(5)
        .take(5)
        .map(|row| CreateActionRow::Buttons(row.to_vec()))
        .collect()
}

/// Re-encodes an image until it fits `limit` bytes (JPEG quality first, then size); files
/// that are not images, or already fit, are kept.
pub fn fit(a: Attachment, limit: usize) -> Attachment {
    if a.bytes.len() <= limit || !a.mime.starts_with("image/") {
        return a;
    }
    let Ok(img) = image::load_from_memory(&a.bytes) else {
        return a;
    };
    let mut img = img.to_rgb8();
    let stem = a
        .name
        .rsplit_once('.')
        .map_or(a.name.as_str(), |(s, _)| s)
        .to_string();
    loop {
        for quality in [90u8, 80, 70, 60] {
            let mut out = Vec::new();
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
            if img.write_with_encoder(enc).is_ok() && out.len() <= limit {
                return Attachment {
                    name: format!("{stem}.jpg"),
                    mime: "image/jpeg".into(),
                    width: img.width(),
                    height: img.height(),
                    bytes: out,
                };
            }
        }
        if img.width() < 64 {
            return a;
        }
        let (w, h) = (img.width() * 4 / 5, img.height() * 4 / 5);
        img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    }
}

pub(super) fn thread_name(extra: &Extra, caption: &str) -> String {
    let style = caption
        .lines()
        .next()
        .unwrap_or("")
        .split(" (")
        .next()
        .unwrap_or("");
    let name = if extra.name.is_empty() {
        "you"
    } else {
        extra.name.as_str()
    };
    let mut n = format!("Headshots for {name}");
    if !style.is_empty() {
        n.push_str(&format!(" · {style}"));
    }
    n.chars().take(100).collect()
}

/// The result caption as an embed: its first line (style, mode, engine) as the title, the
/// checklist below.
pub fn embed_of(caption: &str) -> Option<CreateEmbed> {
    let caption = caption.trim();
    if caption.is_empty() {
        return None;
    }
    let (title, rest) = caption.split_once('\n').unwrap_or((caption, ""));
    let mut e = CreateEmbed::new().title(title.chars().take(256).collect::<String>());
    if !rest.trim().is_empty() {
        e = e.description(rest.trim().chars().take(4096).collect::<String>());
    }
    Some(e)
}

pub(super) fn text_no_thread() -> &'static str {
    "I couldn't open a thread in this channel (missing permission or not allowed here)."
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(label: &str, data: &str) -> Button {
        Button {
            label: label.into(),
            data: data.into(),
        }
    }

    #[test]
    fn style_pickers_become_a_select_menu_and_results_get_delete() {
        let styles = vec![vec![b("Corporate", "style:corporate"), b("Tech", "style:tech")]];
        let rows = components(&styles, Some(7), "k");
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(json[0]["components"][0]["type"], 3, "{json}");
        assert_eq!(json[0]["components"][0]["custom_id"], "7|pick");
        let results = vec![vec![b("Reroll", "reroll:J"), b("Other style", "styles")]];
        let json = serde_json::to_value(components(&results, None, "c:r")).unwrap();
        let ids: Vec<&str> = json[0]["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["custom_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["reroll:J", "styles", "del:c:r"]);
    }

    #[test]
    fn large_images_are_reencoded_to_fit() {
        let img = image::RgbImage::from_fn(900, 900, |x, y| {
            image::Rgb([((x * 7) ^ (y * 13)) as u8, ((x * y) % 251) as u8, (x + y) as u8])
        });
        let png = headshot::models::decode::encode_png(&img);
        let a = Attachment {
            name: "x-4x5.png".into(),
            mime: "image/png".into(),
            width: 900,
            height: 900,
            bytes: png.clone(),
        };
        let limit = png.len() / 4;
        let fitted = fit(a, limit);
        assert!(fitted.bytes.len() <= limit);
        assert_eq!(fitted.name, "x-4x5.jpg");
        assert!(image::load_from_memory(&fitted.bytes).is_ok());
    }

    #[test]
    fn thread_names_carry_user_and_style() {
        let x = Extra {
            name: "ada".into(),
            ..Extra::default()
        };
        assert_eq!(
            thread_name(&x, "Corporate (headshot, studio)\n..."),
            "Headshots for ada · Corporate"
        );
    }
}
