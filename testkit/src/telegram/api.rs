//! The Bot API over HTTP: routing, bodies (form and multipart), updates and the answers of
//! each method.

use super::*;

pub(super) fn next_message(d: &mut Data, chat: i64) -> i64 {
    let n = d.next_message.entry(chat).or_insert(100);
    *n += 1;
    *n
}

pub(super) fn push_update(d: &mut Data, mut update: Value) {
    let id = d.next_update;
    d.next_update += 1;
    update["update_id"] = json!(id);
    d.updates.push_back((id, update));
}

pub(super) fn ok(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

pub(super) fn error(status: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": status, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

pub(super) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    if let Some(rest) = path.strip_prefix(&format!("/file/bot{}/", shared.token)) {
        let file_path = rest.replace("%2F", "/").replace("%2f", "/");
        let mut d = shared.data.lock().unwrap();
        d.downloads.push(file_path.clone());
        let found = d
            .files
            .values()
            .find(|(p, _)| *p == file_path)
            .map(|(_, b)| b.clone());
        return match found {
            Some(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
            None => error(404, "Not Found", None),
        };
    }
    let Some(method) = path.strip_prefix(&format!("/bot{}/", shared.token)) else {
        return error(401, "Unauthorized", None);
    };
    let method = method.to_lowercase();
    let (params, parts) = read_body(request).await;
    let mut call = Call {
        method: method.clone(),
        params,
        parts,
        status: 200,
        at: std::time::Instant::now(),
    };
    let response = answer(&shared, &mut call).await;
    call.status = response.status().as_u16();
    shared.data.lock().unwrap().calls.push(call);
    shared.calls.notify_waiters();
    response
}

pub(super) async fn read_body(request: Request) -> (Map<String, Value>, Vec<Part>) {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut params = Map::new();
    let mut parts = Vec::new();
    if multipart {
        let mut form = Multipart::from_request(request, &()).await.unwrap();
        while let Some(field) = form.next_field().await.unwrap() {
            let name = field.name().unwrap_or_default().to_string();
            let file_name = field.file_name().map(String::from);
            let bytes = field.bytes().await.unwrap().to_vec();
            if file_name.is_some() {
                parts.push(Part {
                    field: name,
                    file_name,
                    bytes,
                });
            } else {
                let text = String::from_utf8_lossy(&bytes).to_string();
                let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                params.insert(name, value);
            }
        }
    } else {
        let body = Bytes::from_request(request, &()).await.unwrap_or_default();
        if let Ok(Value::Object(map)) = serde_json::from_slice(&body) {
            params = map;
        }
    }
    (params, parts)
}

pub(super) async fn answer(shared: &Shared, call: &mut Call) -> Response {
    let failure = {
        let mut d = shared.data.lock().unwrap();
        if d.unknown.contains(&call.method) {
            return error(404, "Not Found: method not found", None);
        }
        d.failures.get_mut(&call.method).and_then(VecDeque::pop_front)
    };
    match failure {
        Some(Failure::RetryAfter(s)) => {
            return error(
                429,
                &format!("Too Many Requests: retry after {s}"),
                Some(json!({"retry_after": s})),
            );
        }
        Some(Failure::Server) => return error(500, "Internal Server Error", None),
        Some(Failure::Blocked) => return error(403, "Forbidden: bot was blocked by the user", None),
        None => {}
    }
    match call.method.as_str() {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Headshot", "username": BOT_NAME,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false, "has_main_web_app": false,
        })),
        "getupdates" => get_updates(shared, call).await,
        "setmycommands" | "deletewebhook" | "setwebhook" | "sendchataction" | "answercallbackquery" => {
            ok(json!(true))
        }
        "getwebhookinfo" => {
            ok(json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0}))
        }
        "getfile" => {
            let id = call.str("file_id").unwrap_or_default();
            let d = shared.data.lock().unwrap();
            match d.files.get(&id) {
                Some((path, bytes)) => ok(json!({
                    "file_id": id, "file_unique_id": format!("u{id}"), "file_size": bytes.len(), "file_path": path,
                })),
                None => error(400, "Bad Request: invalid file_id", None),
            }
        }
        "sendmessage" => send(shared, call, |_| json!({})),
        "sendphoto" => send(shared, call, |c| json!({"photo": photo_sizes(c, 0)})),
        "senddocument" => send(shared, call, |c| json!({"document": document(c, 0)})),
        "sendmediagroup" => send_group(shared, call),
        "editmessagetext" => {
            let (chat, id) = (call.chat_id().unwrap_or(0), call.int("message_id").unwrap_or(0));
            let mut d = shared.data.lock().unwrap();
            match d.sent.get_mut(&(chat, id)) {
                Some(m) => {
                    m["text"] = json!(call.str("text").unwrap_or_default());
                    m["edit_date"] = json!(1_700_000_001);
                    ok(m.clone())
                }
                None => error(400, "Bad Request: message to edit not found", None),
            }
        }
        _ => error(404, "Not Found", None),
    }
}

pub(super) async fn get_updates(shared: &Shared, call: &Call) -> Response {
    let offset = call.int("offset").unwrap_or(0);
    let limit = call.int("limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(call.int("timeout").unwrap_or(0).clamp(0, 10) as u64);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = shared.updates.notified();
        {
            let mut d = shared.data.lock().unwrap();
            while d.updates.front().is_some_and(|(id, _)| *id < offset) {
                d.updates.pop_front();
            }
            if !d.updates.is_empty() || tokio::time::Instant::now() >= deadline {
                let out: Vec<Value> = d.updates.iter().take(limit).map(|(_, u)| u.clone()).collect();
                return ok(Value::Array(out));
            }
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

pub(super) fn photo_sizes(call: &Call, index: usize) -> Value {
    let n = call.media().get(index).map(|m| m.2.len()).unwrap_or(0);
    json!([{"file_id": format!("sent-{index}"), "file_unique_id": format!("us{index}"), "width": 40, "height": 50, "file_size": n}])
}

pub(super) fn document(call: &Call, index: usize) -> Value {
    let m = call.media();
    let (name, n) = m
        .get(index)
        .map(|m| (m.1.clone(), m.2.len()))
        .unwrap_or((None, 0));
    json!({"file_id": format!("doc-{index}"), "file_unique_id": format!("ud{index}"), "file_name": name, "file_size": n})
}

/// Stores and returns a message from the bot in the call's chat.
pub(super) fn bot_message(d: &mut Data, call: &Call, content: Value) -> Option<Value> {
    let chat_id = call.chat_id()?;
    let chat = d.chats.get(&chat_id)?.clone();
    let id = next_message(d, chat_id);
    let mut m = json!({
        "message_id": id, "date": 1_700_000_000, "chat": chat,
        "from": {"id": BOT_ID, "is_bot": true, "first_name": "Headshot", "username": BOT_NAME},
    });
    if let Some(t) = call.thread() {
        m["message_thread_id"] = json!(t);
        m["is_topic_message"] = json!(true);
    }
    if let Some(text) = call.str("text") {
        m["text"] = json!(text);
    }
    if let Some(markup) = call.params.get("reply_markup") {
        m["reply_markup"] = markup.clone();
    }
    for (k, v) in content.as_object().unwrap() {
        m[k] = v.clone();
    }
    d.sent.insert((chat_id, id), m.clone());
    Some(m)
}

pub(super) fn send(shared: &Shared, call: &Call, content: impl Fn(&Call) -> Value) -> Response {
    let mut d = shared.data.lock().unwrap();
    match bot_message(&mut d, call, content(call)) {
        Some(m) => ok(m),
        None => error(400, "Bad Request: chat not found", None),
    }
}

pub(super) fn send_group(shared: &Shared, call: &Call) -> Response {
    let media = call.media();
    if !(2..=10).contains(&media.len()) {
        return error(400, "Bad Request: wrong number of media in the group", None);
    }
    let mut d = shared.data.lock().unwrap();
    let mut out = Vec::new();
    for (i, (kind, ..)) in media.iter().enumerate() {
        let content = if kind == "photo" {
            json!({"photo": photo_sizes(call, i), "media_group_id": "g1"})
        } else {
            json!({"document": document(call, i), "media_group_id": "g1"})
        };
        match bot_message(&mut d, call, content) {
            Some(m) => out.push(m),
            None => return error(400, "Bad Request: chat not found", None),
        }
    }
    ok(Value::Array(out))
}
