//! Discord's JSON shapes: users, members, messages, attachments, snowflakes and timestamps.

use super::*;

pub(super) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// RFC 3339 in UTC with microseconds, as Discord writes it.
pub(super) fn timestamp(ms: u64) -> String {
    let (secs, days) = (ms / 1000, (ms / 86_400_000) as i64);
    // Days to civil date (proleptic Gregorian), eras of 400 years from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}000+00:00",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        ms % 1000
    )
}

pub(super) fn now_ts() -> String {
    timestamp(now_ms())
}

pub(super) fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

pub(super) fn id_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn bot_user() -> Value {
    json!({"id": BOT_ID.to_string(), "username": BOT_NAME, "discriminator": "0", "global_name": null,
        "avatar": null, "bot": true, "verified": true, "mfa_enabled": false, "flags": 0, "public_flags": 0})
}

pub(super) fn user_json(id: u64) -> Value {
    json!({"id": id.to_string(), "username": format!("user{}", id % 100_000), "discriminator": "0",
        "global_name": format!("User {}", id % 100_000), "avatar": null, "public_flags": 0, "flags": 0})
}

pub(super) fn member_json(user: u64) -> Value {
    json!({"user": user_json(user), "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "deaf": false, "mute": false, "flags": 0, "pending": false, "nick": null, "avatar": null,
        "premium_since": null, "communication_disabled_until": null, "permissions": "2248473465835073"})
}

pub(super) fn message_skeleton(id: u64, channel: u64, author: Value) -> Value {
    json!({"id": id.to_string(), "channel_id": channel.to_string(), "author": author, "content": "",
        "timestamp": now_ts(), "edited_timestamp": null, "tts": false, "mention_everyone": false,
        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": false,
        "type": 0, "flags": 0, "components": []})
}

pub(super) fn ensure_guild_channel(d: &mut Data, channel: u64, guild: u64) {
    d.channels.entry(channel).or_insert_with(|| {
        json!({"id": channel.to_string(), "type": 0,
        "guild_id": guild.to_string(), "name": "general", "position": 0, "permission_overwrites": [],
        "nsfw": false, "parent_id": null, "topic": null, "last_message_id": null,
        "rate_limit_per_user": 0, "flags": 0})
    });
}

/// The DM channel with `user` (`channel` if given, else the known or a new one).
pub(super) fn ensure_dm(d: &mut Data, user: u64, channel: Option<u64>) -> u64 {
    if let Some(known) = d.dms.get(&user).copied()
        && channel.is_none_or(|c| c == known)
    {
        return known;
    }
    let id = channel.unwrap_or_else(|| d.snowflake());
    d.dms.insert(user, id);
    d.channels.insert(
        id,
        json!({"id": id.to_string(), "type": 1, "last_message_id": null, "flags": 0,
        "recipients": [user_json(user)]}),
    );
    id
}

pub(super) fn url_key(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(super) fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 24 || !b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return None;
    }
    Some((
        u32::from_be_bytes(b[16..20].try_into().ok()?),
        u32::from_be_bytes(b[20..24].try_into().ok()?),
    ))
}

pub(super) fn attachment_json(
    d: &mut Data,
    key: &str,
    filename: &str,
    size: u64,
    content_type: &str,
    bytes: &[u8],
) -> Value {
    let url = format!("{}/attachments/{key}", d.base);
    let mut a = json!({"id": d.snowflake().to_string(), "filename": filename, "size": size, "url": url,
        "proxy_url": url, "content_type": content_type});
    if let Some((w, h)) = png_size(bytes) {
        a["width"] = json!(w);
        a["height"] = json!(h);
    }
    a
}

/// An attachment object for the registered attachment `name` (a new id each time).
pub(super) fn user_attachment(d: &mut Data, name: &str) -> Option<Value> {
    let key = url_key(name);
    let u = d.files.get(&key)?;
    let (ct, bytes, size) = (
        u.content_type.clone(),
        u.bytes.clone(),
        u.declared.unwrap_or(u.bytes.len() as u64),
    );
    Some(attachment_json(d, &key, name, size, &ct, &bytes))
}

/// Stores an uploaded file and returns its attachment object.
pub(super) fn upload(d: &mut Data, part: &FilePart, name: Option<&str>) -> Value {
    let filename = name.or(part.filename.as_deref()).unwrap_or("file").to_string();
    let content_type = part
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let key = format!("u{}/{}", d.last_id + 1, url_key(&filename));
    let a = attachment_json(
        d,
        &key,
        &filename,
        part.bytes.len() as u64,
        &content_type,
        &part.bytes,
    );
    d.files.insert(
        key,
        Upload {
            content_type,
            bytes: part.bytes.clone(),
            declared: None,
        },
    );
    a
}

pub fn custom_ids(components: &Value) -> Vec<String> {
    let rows = components.as_array().into_iter().flatten();
    rows.flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["custom_id"].as_str().map(String::from))
        .collect()
}

pub(super) fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.strip_prefix("/api/v10").unwrap_or(pattern);
    let p: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    let seg = |(a, b): (&&str, &&str)| *a == "*" || a == b;
    match p.split_last() {
        Some((&"**", head)) => s.len() >= head.len() && head.iter().zip(&s).all(seg),
        _ => p.len() == s.len() && p.iter().zip(&s).all(seg),
    }
}

// ----- interactions and dispatch -----
