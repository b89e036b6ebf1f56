//! Messages, threads, interaction callbacks, webhooks and command registration.

use super::*;

/// Creates and stores a message from the bot (or the app's webhook) in `channel`.
pub(super) fn compose(
    d: &mut Data,
    channel: u64,
    body: &Value,
    files: &[FilePart],
    kind: u64,
    webhook: bool,
    require_content: bool,
) -> Result<Value, Reply> {
    if !d.channels.contains_key(&channel) {
        return Err(err(404, 10003, "Unknown Channel"));
    }
    let id = d.snowflake();
    let mut m = message_skeleton(id, channel, bot_user());
    m["type"] = json!(kind);
    m["flags"] = json!(body["flags"].as_u64().unwrap_or(0));
    if webhook {
        m["webhook_id"] = json!(APP_ID.to_string());
        m["application_id"] = json!(APP_ID.to_string());
    }
    if body["message_reference"].is_object() {
        let mut reference = body["message_reference"].clone();
        if reference["channel_id"].is_null() {
            reference["channel_id"] = json!(channel.to_string());
        }
        if let Some(mut quoted) = id_of(&reference["message_id"]).and_then(|q| d.messages.get(&q).cloned()) {
            quoted.as_object_mut().unwrap().remove("referenced_message");
            m["referenced_message"] = quoted;
        }
        m["message_reference"] = reference;
        m["type"] = json!(19);
    }
    apply(d, &mut m, body, files)?;
    if require_content {
        check_not_empty(&m)?;
    }
    d.messages.insert(id, m.clone());
    // Discord echoes the bot's own (non-ephemeral) messages as MESSAGE_CREATE.
    if m["flags"].as_u64().unwrap_or(0) & EPHEMERAL == 0 {
        let mut echo = m.clone();
        let guild = d.channels[&channel]["guild_id"].clone();
        if !guild.is_null() {
            echo["guild_id"] = guild;
        }
        dispatch(d, "MESSAGE_CREATE", echo);
    }
    Ok(m)
}

pub(super) fn check_not_empty(m: &Value) -> Result<(), Reply> {
    let empty = |k: &str| m[k].as_array().is_none_or(Vec::is_empty);
    if m["content"].as_str().unwrap_or_default().is_empty()
        && empty("embeds")
        && empty("attachments")
        && empty("components")
    {
        return Err(err(400, 50006, "Cannot send an empty message"));
    }
    Ok(())
}

/// Applies content, embeds, components and attachments of a create or edit body.
pub(super) fn apply(d: &mut Data, m: &mut Value, body: &Value, files: &[FilePart]) -> Result<(), Reply> {
    if files.len() > 10 {
        return Err(form_error(
            "attachments",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 10 or fewer in length.",
        ));
    }
    if files.iter().any(|f| f.bytes.len() as u64 > d.upload_limit) {
        return Err(err(413, 40005, "Request entity too large"));
    }
    for key in ["content", "embeds", "components", "tts"] {
        if !body[key].is_null() {
            m[key] = body[key].clone();
        }
    }
    if m["content"].as_str().map_or(0, |s| s.chars().count()) > 2000 {
        return Err(form_error(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    let old = m["attachments"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    match body["attachments"].as_array() {
        // serenity lists new files as {id: N, filename} (part `files[N]`), kept ones as {id}.
        Some(list) => {
            for a in list {
                if let Some(name) = a["filename"].as_str() {
                    let field = format!("files[{}]", id_str(&a["id"]));
                    let part = files.iter().find(|f| f.field == field).ok_or_else(|| {
                        form_error("attachments", "ATTACHMENT_NOT_FOUND", "Attachment data not found")
                    })?;
                    out.push(upload(d, part, Some(name)));
                } else if let Some(kept) = old.iter().find(|o| id_str(&o["id"]) == id_str(&a["id"])) {
                    out.push(kept.clone());
                }
            }
        }
        None => {
            out = old;
            for part in files {
                out.push(upload(d, part, None));
            }
        }
    }
    m["attachments"] = json!(out);
    Ok(())
}

pub(super) fn edit_message(d: &mut Data, id: u64, body: &Value, files: &[FilePart]) -> Result<Reply, Reply> {
    let mut m = d
        .messages
        .get(&id)
        .cloned()
        .ok_or_else(|| err(404, 10008, "Unknown Message"))?;
    apply(d, &mut m, body, files)?;
    let old = m["flags"].as_u64().unwrap_or(0);
    let asked = body["flags"].as_u64().unwrap_or(old & SUPPRESS_EMBEDS);
    m["flags"] = json!((old & EPHEMERAL) | (asked & SUPPRESS_EMBEDS));
    check_not_empty(&m)?;
    m["edited_timestamp"] = json!(now_ts());
    d.messages.insert(id, m.clone());
    Ok(ok(m))
}

pub(super) fn create_thread(
    d: &mut Data,
    parent: u64,
    from: Option<u64>,
    body: &Value,
) -> Result<Reply, Reply> {
    if d.forbid_threads {
        return Err(err(403, 50013, "Missing Permissions"));
    }
    let p = d
        .channels
        .get(&parent)
        .ok_or_else(|| err(404, 10003, "Unknown Channel"))?;
    if p["type"] == 1 {
        return Err(err(400, 50003, "Cannot execute action on a DM channel"));
    }
    let guild = p["guild_id"].clone();
    let name = body["name"]
        .as_str()
        .filter(|n| (1..=100).contains(&n.chars().count()))
        .ok_or_else(|| {
            form_error(
                "name",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        })?;
    let id = match from {
        Some(m) if !d.messages.contains_key(&m) => return Err(err(404, 10008, "Unknown Message")),
        Some(m) if d.channels.contains_key(&m) => {
            return Err(err(
                400,
                160004,
                "A thread has already been created for this message",
            ));
        }
        Some(m) => m, // a thread started from a message shares its id
        None => d.snowflake(),
    };
    let kind = if from.is_some() {
        11
    } else {
        body["type"].as_u64().unwrap_or(12)
    };
    let ts = now_ts();
    let thread = json!({"id": id.to_string(), "type": kind, "guild_id": guild, "name": name,
        "parent_id": parent.to_string(), "owner_id": BOT_ID.to_string(), "last_message_id": null,
        "rate_limit_per_user": body["rate_limit_per_user"].as_u64().unwrap_or(0), "flags": 0,
        "message_count": 0, "member_count": 1, "total_message_sent": 0,
        "thread_metadata": {"archived": false, "locked": false, "archive_timestamp": ts, "create_timestamp": ts,
            "auto_archive_duration": body["auto_archive_duration"].as_u64().unwrap_or(4320),
            "invitable": body["invitable"].as_bool().unwrap_or(true)}});
    if let Some(m) = from.and_then(|m| d.messages.get_mut(&m)) {
        m["thread"] = thread.clone();
    }
    d.channels.insert(id, thread.clone());
    Ok(created(thread))
}

pub(super) fn callback(d: &mut Data, id: u64, token: &str, r: &Req) -> Result<Reply, Reply> {
    let it = d
        .interactions
        .get(token)
        .filter(|it| it.id == id && !d.expired.contains(token))
        .ok_or_else(|| err(404, 10062, "Unknown interaction"))?;
    if it.acked {
        return Err(err(400, 40060, "Interaction has already been acknowledged."));
    }
    let (channel, message, command) = (it.channel, it.original, it.command);
    let data = if r.body["data"].is_object() {
        r.body["data"].clone()
    } else {
        json!({})
    };
    let kind = if command { 20 } else { 0 };
    let original = match r.body["type"].as_u64() {
        Some(4) => id_of(&compose(d, channel, &data, &r.files, kind, true, true)?["id"]),
        Some(5) => {
            let flags = data["flags"].as_u64().unwrap_or(0) | LOADING;
            id_of(&compose(d, channel, &json!({"flags": flags}), &[], kind, true, false)?["id"])
        }
        Some(6) if !command => message,
        Some(7) if !command => {
            edit_message(d, message.unwrap_or(0), &data, &r.files)?;
            message
        }
        Some(8 | 9) => None,
        _ => {
            return Err(err(
                400,
                40094,
                "Interaction response type is not valid for this interaction",
            ));
        }
    };
    let it = d.interactions.get_mut(token).unwrap();
    it.acked = true;
    it.original = original;
    Ok(no_content())
}

pub(super) fn webhook(d: &mut Data, app: &str, token: &str, rest: &[&str], r: &Req) -> Result<Reply, Reply> {
    if num(app) != APP_ID {
        return Err(err(404, 10015, "Unknown Webhook"));
    }
    if d.expired.contains(token) {
        return Err(err(401, 50027, "Invalid Webhook Token"));
    }
    // Before the callback Discord answers 404 Unknown Webhook for the token.
    let it = d
        .interactions
        .get(token)
        .filter(|it| it.acked)
        .ok_or_else(|| err(404, 10015, "Unknown Webhook"))?;
    let (channel, original) = (it.channel, it.original);
    let unknown = || err(404, 10008, "Unknown Message");
    let target = match rest {
        ["messages", "@original"] => original.ok_or_else(unknown)?,
        ["messages", m] => m.parse().map_err(|_| unknown())?,
        _ => 0,
    };
    match (r.method.as_str(), rest.len()) {
        ("POST", 0) => {
            // The first follow-up after a deferred response fills the loading message.
            if let Some(o) = original
                && d.messages
                    .get(&o)
                    .is_some_and(|m| m["flags"].as_u64().unwrap_or(0) & LOADING != 0)
            {
                return edit_message(d, o, &r.body, &r.files);
            }
            compose(d, channel, &r.body, &r.files, 0, true, true).map(ok)
        }
        ("GET", 2) => get_message(d, target),
        ("PATCH", 2) => edit_message(d, target, &r.body, &r.files),
        ("DELETE", 2) => delete_message(d, target),
        _ => Err(err(404, 0, "404: Not Found")),
    }
}

pub(super) fn put_commands(
    d: &mut Data,
    app: &str,
    guild: Option<u64>,
    body: &Value,
) -> Result<Reply, Reply> {
    if num(app) != APP_ID {
        return Err(err(403, 50001, "Missing Access"));
    }
    let list = body
        .as_array()
        .ok_or_else(|| form_error("_root", "LIST_TYPE_CONVERT", "Must be an array."))?;
    let name_ok = |n: &str| {
        (1..=32).contains(&n.chars().count())
            && n.chars()
                .all(|c| c == '-' || c == '_' || (c.is_alphanumeric() && !c.is_uppercase()))
    };
    let text_ok = |v: &Value| v.as_str().is_some_and(|s| (1..=100).contains(&s.chars().count()));
    let mut seen = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        let slash = c["type"].as_u64().unwrap_or(1) == 1;
        let name = c["name"].as_str().unwrap_or_default();
        if (slash && !name_ok(name)) || name.is_empty() || !seen.insert(name.to_string()) {
            return Err(form_error(
                &format!("{i}.name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            ));
        }
        if slash && !text_ok(&c["description"]) {
            return Err(form_error(
                &format!("{i}.description"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        let options = c["options"].as_array().cloned().unwrap_or_default();
        if options.len() > 25 {
            return Err(form_error(
                &format!("{i}.options"),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            ));
        }
        for (j, o) in options.iter().enumerate() {
            let at = format!("{i}.options.{j}");
            if !name_ok(o["name"].as_str().unwrap_or_default()) || !text_ok(&o["description"]) {
                return Err(form_error(
                    &at,
                    "APPLICATION_COMMAND_OPTION_INVALID",
                    "Option name or description is invalid",
                ));
            }
            if o["choices"].as_array().is_some_and(|ch| ch.len() > 25) {
                return Err(form_error(
                    &format!("{at}.choices"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                ));
            }
        }
    }
    let previous = d.commands.get(&guild).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for c in list {
        let mut c = c.clone();
        let known = previous
            .iter()
            .find(|p| p["name"] == c["name"])
            .map(|p| p["id"].clone());
        c["id"] = known.unwrap_or_else(|| json!(d.snowflake().to_string()));
        c["application_id"] = json!(APP_ID.to_string());
        c["version"] = json!(d.snowflake().to_string());
        c["type"] = json!(c["type"].as_u64().unwrap_or(1));
        for (k, default) in [
            ("description", json!("")),
            ("options", json!([])),
            ("default_member_permissions", Value::Null),
        ] {
            if c[k].is_null() {
                c[k] = default;
            }
        }
        if let Some(g) = guild {
            c["guild_id"] = json!(g.to_string());
        }
        out.push(c);
    }
    d.commands.insert(guild, out.clone());
    Ok(ok(json!(out)))
}
