//! The gateway: interactions and dispatches, sessions (IDENTIFY, RESUME, heartbeats) over
//! WebSocket.

use super::*;

pub(super) fn interaction(
    d: &mut Data,
    kind: u64,
    user: u64,
    channel: u64,
    guild: Option<u64>,
    data: Value,
    message: Option<u64>,
) -> (u64, String) {
    match guild {
        Some(g) => ensure_guild_channel(d, channel, g),
        None => {
            let dm = d.channels.get(&channel).is_some_and(|c| c["type"] == 1);
            if !dm {
                ensure_dm(d, user, Some(channel));
            }
        }
    }
    let id = d.snowflake();
    let token = format!("aW50ZXJhY3Rpb246{id}fake{}", id % 9973);
    let mut v = json!({"id": id.to_string(), "application_id": APP_ID.to_string(), "type": kind,
        "data": data, "channel_id": channel.to_string(), "channel": d.channels[&channel].clone(),
        "token": token, "version": 1, "app_permissions": d.app_permissions.to_string(),
        "locale": "en-US", "entitlements": [], "attachment_size_limit": d.size_limit});
    if let Some(m) = message {
        v["message"] = d.messages[&m].clone();
    }
    match guild {
        Some(g) => {
            v["guild_id"] = json!(g.to_string());
            v["guild_locale"] = json!("en-US");
            v["member"] = member_json(user);
            if d.admins.contains(&user) {
                // ADMINISTRATOR | MANAGE_GUILD on top of the usual permissions.
                v["member"]["permissions"] = json!((2248473465835073u64 | 8 | 32).to_string());
            }
            v["context"] = json!(0);
            v["authorizing_integration_owners"] = json!({"0": g.to_string()});
        }
        None => {
            v["user"] = user_json(user);
            v["context"] = json!(1);
            v["authorizing_integration_owners"] = json!({"0": "0"});
        }
    }
    let pending = Pending {
        id,
        channel,
        command: kind == 2,
        acked: false,
        original: message,
    };
    d.interactions.insert(token.clone(), pending);
    dispatch(d, "INTERACTION_CREATE", v);
    (id, token)
}

pub(super) fn dispatch(d: &mut Data, event: &str, payload: Value) {
    let Some(conn) = d.gw.active else {
        d.gw.queued.push((event.to_string(), payload));
        return;
    };
    if let Some(text) = event_text(d, event, payload)
        && let Some(tx) = d.gw.conns.get(&conn)
    {
        let _ = tx.send(Out::Text(text));
    }
}

/// The dispatch frame, or None when the session's intents withhold it.
pub(super) fn event_text(d: &mut Data, event: &str, mut payload: Value) -> Option<String> {
    if event == "MESSAGE_CREATE" || event == "MESSAGE_UPDATE" {
        let intents = d.gw.stats.intents.unwrap_or(0);
        let in_guild = payload.get("guild_id").is_some_and(|g| !g.is_null());
        let needed = if in_guild { GUILD_MESSAGES } else { DIRECT_MESSAGES };
        if intents & needed == 0 {
            d.gw.stats.filtered.push(event.to_string());
            return None;
        }
        let mentions_bot = payload["mentions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|u| id_of(&u["id"]) == Some(BOT_ID));
        let own = id_of(&payload["author"]["id"]) == Some(BOT_ID);
        if in_guild && intents & MESSAGE_CONTENT == 0 && !mentions_bot && !own {
            for (k, empty) in [
                ("content", json!("")),
                ("embeds", json!([])),
                ("attachments", json!([])),
                ("components", json!([])),
            ] {
                payload[k] = empty;
            }
        }
    }
    d.gw.seq += 1;
    d.gw.stats.dispatched.push(event.to_string());
    Some(json!({"op": 0, "t": event, "s": d.gw.seq, "d": payload}).to_string())
}

pub(super) fn flush(d: &mut Data) -> Vec<Out> {
    let queued = std::mem::take(&mut d.gw.queued);
    queued
        .into_iter()
        .filter_map(|(t, p)| event_text(d, &t, p))
        .map(Out::Text)
        .collect()
}

pub(super) fn gateway_stats(d: &Data) -> GatewayStats {
    let mut s = d.gw.stats.clone();
    s.open = d.gw.conns.len();
    s.active = d.gw.active.is_some();
    s
}

// ----- gateway -----

pub(super) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if shared.data.lock().unwrap().gw.accepting {
            tokio::spawn(connection(shared.clone(), stream));
        }
    }
}

pub(super) async fn connection(shared: Arc<Shared>, stream: TcpStream) {
    let uri = Arc::new(Mutex::new(String::new()));
    let seen = uri.clone();
    // The callback's type is tungstenite's, error variant included.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &WsRequest, resp: WsResponse| -> Result<WsResponse, WsError> {
        *seen.lock().unwrap() = req.uri().to_string();
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (conn, hello) = {
        let mut d = shared.data.lock().unwrap();
        d.gw.next_conn += 1;
        let conn = d.gw.next_conn;
        d.gw.conns.insert(conn, tx);
        d.gw.stats.connections += 1;
        d.gw.stats.uri = Some(uri.lock().unwrap().clone());
        (
            conn,
            json!({"op": 10, "d": {"heartbeat_interval": d.gw.heartbeat_interval}, "s": null, "t": null}),
        )
    };
    shared.changed.notify_waiters();
    let mut open = ws.send(WsMessage::Text(hello.to_string())).await.is_ok();
    while open {
        let outs = tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => on_payload(&shared, conn, &text),
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => vec![Out::Drop],
                Some(Ok(_)) => Vec::new(),
            },
            out = rx.recv() => vec![out.unwrap_or(Out::Drop)],
        };
        shared.changed.notify_waiters();
        for out in outs {
            match out {
                Out::Text(text) => {
                    if ws.send(WsMessage::Text(text)).await.is_err() {
                        open = false;
                        break;
                    }
                }
                Out::Close(code) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: "fake gateway close".into(),
                    };
                    let _ = ws.close(Some(frame)).await;
                    open = false;
                    break;
                }
                Out::Drop => {
                    open = false;
                    break;
                }
            }
        }
    }
    {
        let mut d = shared.data.lock().unwrap();
        d.gw.conns.remove(&conn);
        if d.gw.active == Some(conn) {
            d.gw.active = None;
        }
    }
    shared.changed.notify_waiters();
}

pub(super) fn on_payload(shared: &Shared, conn: u64, text: &str) -> Vec<Out> {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return vec![Out::Close(4002)];
    };
    let mut guard = shared.data.lock().unwrap();
    let d = &mut *guard;
    d.gw.stats.received.push(v.clone());
    match v["op"].as_u64() {
        Some(1) if d.gw.ack_heartbeats => vec![Out::Text(
            json!({"op": 11, "d": null, "s": null, "t": null}).to_string(),
        )],
        Some(2) => identify(d, conn, &v["d"]),
        Some(6) => resume(d, conn, &v["d"]),
        _ => Vec::new(),
    }
}

pub(super) fn identify(d: &mut Data, conn: u64, p: &Value) -> Vec<Out> {
    let token = p["token"].as_str().unwrap_or_default().to_string();
    d.gw.stats.identifies += 1;
    d.gw.stats.intents = p["intents"].as_u64();
    d.gw.stats.token = Some(token.clone());
    d.gw.stats.identify = Some(p.clone());
    if token.strip_prefix("Bot ").unwrap_or(&token) != TOKEN {
        return vec![Out::Close(4004)];
    }
    let session = format!("fakesession{}", d.snowflake());
    d.gw.sessions.insert(session.clone());
    d.gw.seq = 1;
    d.gw.active = Some(conn);
    d.gw.stats.dispatched.push("READY".into());
    let shard = if p["shard"].is_array() {
        p["shard"].clone()
    } else {
        json!([0, 1])
    };
    let ready = json!({"op": 0, "t": "READY", "s": 1, "d": {
        "v": 10, "user": bot_user(), "guilds": [{"id": GUILD_ID.to_string(), "unavailable": true}],
        "session_id": session, "resume_gateway_url": d.ws_url, "shard": shard,
        "application": {"id": APP_ID.to_string(), "flags": 0},
        "private_channels": [], "presences": [], "relationships": [], "geo_ordered_rtc_regions": []
    }});
    let mut out = vec![Out::Text(ready.to_string())];
    out.extend(flush(d));
    out
}

pub(super) fn resume(d: &mut Data, conn: u64, p: &Value) -> Vec<Out> {
    d.gw.stats.resumes += 1;
    let known = p["session_id"]
        .as_str()
        .is_some_and(|s| d.gw.sessions.contains(s));
    if !(d.gw.resume_ok && known) {
        return vec![Out::Text(
            json!({"op": 9, "d": false, "s": null, "t": null}).to_string(),
        )];
    }
    d.gw.active = Some(conn);
    d.gw.seq += 1;
    d.gw.stats.dispatched.push("RESUMED".into());
    let mut out = vec![Out::Text(
        json!({"op": 0, "t": "RESUMED", "s": d.gw.seq, "d": {}}).to_string(),
    )];
    out.extend(flush(d));
    out
}

// ----- REST -----
