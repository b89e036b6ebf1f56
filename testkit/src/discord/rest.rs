//! The REST API: routing, bodies (JSON and multipart) and the answers of each route.

use super::*;

pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Option<Value>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) raw: Option<(String, Vec<u8>)>,
}

pub(super) fn ok(v: Value) -> Reply {
    Reply {
        status: 200,
        body: Some(v),
        headers: Vec::new(),
        raw: None,
    }
}

pub(super) fn created(v: Value) -> Reply {
    Reply { status: 201, ..ok(v) }
}

pub(super) fn no_content() -> Reply {
    Reply {
        status: 204,
        body: None,
        headers: Vec::new(),
        raw: None,
    }
}

pub(super) fn err(status: u16, code: u64, message: &str) -> Reply {
    Reply {
        status,
        ..ok(json!({"code": code, "message": message}))
    }
}

/// 400 50035 "Invalid Form Body" with the error nested under `path` (dot separated).
pub(super) fn form_error(path: &str, code: &str, message: &str) -> Reply {
    let mut errors = json!({"_errors": [{"code": code, "message": message}]});
    for key in path.rsplit('.') {
        errors = json!({ key: errors });
    }
    Reply {
        status: 400,
        ..ok(json!({"code": 50035, "message": "Invalid Form Body", "errors": errors}))
    }
}

impl Reply {
    pub(super) fn into_response(self) -> Response {
        let mut b = axum::http::Response::builder().status(self.status);
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let body = match (self.raw, self.body) {
            (Some((ct, bytes)), _) => {
                b = b.header(header::CONTENT_TYPE, ct);
                Body::from(bytes)
            }
            (None, Some(v)) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            (None, None) => Body::empty(),
        };
        b.body(body).unwrap()
    }
}

pub(super) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().as_str().to_string();
    let full = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (body, files) = read_body(request).await;
    let (api, path) = match full.strip_prefix("/api/v10") {
        Some(p) => (true, p.to_string()),
        None => (false, full.clone()),
    };
    let mut req = Req {
        method,
        path,
        query,
        body,
        files,
        auth,
        status: 0,
        at: Instant::now(),
    };
    let reply = {
        let mut d = shared.data.lock().unwrap();
        let reply = answer(&mut d, &req, api).unwrap_or_else(|e| e);
        req.status = reply.status;
        d.requests.push(req);
        reply
    };
    shared.changed.notify_waiters();
    reply.into_response()
}

pub(super) async fn read_body(request: Request) -> (Value, Vec<FilePart>) {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("multipart/form-data") {
        let bytes = Bytes::from_request(request, &()).await.unwrap_or_default();
        return (serde_json::from_slice(&bytes).unwrap_or(Value::Null), Vec::new());
    }
    let (mut body, mut files) = (Value::Null, Vec::new());
    let Ok(mut form) = Multipart::from_request(request, &()).await else {
        return (body, files);
    };
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(String::from);
        let content_type = field.content_type().map(String::from);
        let Ok(bytes) = field.bytes().await else { break };
        if name == "payload_json" {
            body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        } else {
            files.push(FilePart {
                field: name,
                filename,
                content_type,
                bytes: bytes.to_vec(),
            });
        }
    }
    (body, files)
}

pub(super) fn answer(d: &mut Data, r: &Req, api: bool) -> Result<Reply, Reply> {
    // Webhook and interaction routes need no token; downloads are plain files.
    let open = !api || r.path.starts_with("/webhooks/") || r.path.starts_with("/interactions/");
    if !open && r.auth.as_deref().and_then(|a| a.strip_prefix("Bot ")) != Some(TOKEN) {
        return Err(err(401, 0, "401: Unauthorized"));
    }
    if let Some(i) = d.failures.iter().position(|(m, p, _, n)| {
        *n > 0 && (m == "*" || m.eq_ignore_ascii_case(&r.method)) && path_matches(p, &r.path)
    }) {
        let f = &mut d.failures[i];
        f.3 = f.3.saturating_sub(1);
        let inj = f.2.clone();
        if f.3 == 0 {
            d.failures.remove(i);
        }
        return Err(Reply {
            status: inj.status,
            body: Some(inj.body),
            headers: inj.headers,
            raw: None,
        });
    }
    if !api {
        let file = r.path.strip_prefix("/attachments/").and_then(|k| d.files.get(k));
        return match (r.method.as_str(), file) {
            ("GET", Some(u)) => Ok(Reply {
                raw: Some((u.content_type.clone(), u.bytes.clone())),
                ..ok(Value::Null)
            }),
            _ => Err(Reply {
                raw: Some(("text/plain".into(), b"404: Not Found".to_vec())),
                ..err(404, 0, "")
            }),
        };
    }
    let seg: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    match (r.method.as_str(), seg.as_slice()) {
        ("GET", ["gateway"]) => Ok(ok(json!({"url": d.ws_url}))),
        ("GET", ["gateway", "bot"]) => Ok(ok(json!({"url": d.ws_url, "shards": 1, "session_start_limit":
            {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}}))),
        ("GET", ["users", "@me"]) => Ok(ok(bot_user())),
        ("GET", ["oauth2", "applications", "@me"]) => {
            Ok(ok(json!({"id": APP_ID.to_string(), "name": BOT_NAME,
            "icon": null, "description": "", "bot_public": false, "bot_require_code_grant": false,
            "owner": user_json(1), "verify_key": "00", "team": null, "flags": 0, "bot": bot_user()})))
        }
        ("PUT", ["applications", app, "commands"]) => put_commands(d, app, None, &r.body),
        ("PUT", ["applications", app, "guilds", g, "commands"]) => {
            put_commands(d, app, Some(num(g)), &r.body)
        }
        ("GET", ["applications", _, "commands"]) => {
            Ok(ok(json!(d.commands.get(&None).cloned().unwrap_or_default())))
        }
        ("GET", ["applications", _, "guilds", g, "commands"]) => Ok(ok(json!(
            d.commands.get(&Some(num(g))).cloned().unwrap_or_default()
        ))),
        ("POST", ["users", "@me", "channels"]) => {
            let user = id_of(&r.body["recipient_id"])
                .ok_or_else(|| form_error("recipient_id", "BASE_TYPE_REQUIRED", "This field is required"))?;
            let channel = ensure_dm(d, user, None);
            Ok(ok(d.channels[&channel].clone()))
        }
        ("GET", ["channels", c]) => d
            .channels
            .get(&num(c))
            .cloned()
            .map(ok)
            .ok_or_else(|| err(404, 10003, "Unknown Channel")),
        ("POST", ["channels", _, "typing"]) => Ok(no_content()),
        ("POST", ["channels", c, "messages"]) => {
            let channel = num(c);
            if let Some(ch) = d.channels.get(&channel)
                && ch["type"] == 1
                && id_of(&ch["recipients"][0]["id"]).is_some_and(|u| d.blocked_dms.contains(&u))
            {
                return Err(err(403, 50007, "Cannot send messages to this user"));
            }
            compose(d, channel, &r.body, &r.files, 0, false, true).map(ok)
        }
        ("GET", ["channels", _, "messages", m]) => get_message(d, num(m)),
        ("PATCH", ["channels", _, "messages", m]) => edit_message(d, num(m), &r.body, &r.files),
        ("DELETE", ["channels", _, "messages", m]) => delete_message(d, num(m)),
        ("POST", ["channels", c, "threads"]) => create_thread(d, num(c), None, &r.body),
        ("POST", ["channels", c, "messages", m, "threads"]) => {
            create_thread(d, num(c), Some(num(m)), &r.body)
        }
        ("POST", ["interactions", i, token, "callback"]) => callback(d, num(i), token, r),
        (_, ["webhooks", app, token, rest @ ..]) => webhook(d, app, token, rest, r),
        _ => Err(err(404, 0, "404: Not Found")),
    }
}

pub(super) fn num(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

pub(super) fn get_message(d: &Data, id: u64) -> Result<Reply, Reply> {
    d.messages
        .get(&id)
        .cloned()
        .map(ok)
        .ok_or_else(|| err(404, 10008, "Unknown Message"))
}

pub(super) fn delete_message(d: &mut Data, id: u64) -> Result<Reply, Reply> {
    d.messages
        .remove(&id)
        .map(|_| no_content())
        .ok_or_else(|| err(404, 10008, "Unknown Message"))
}
