#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into corpus/<target>/ (run once; the fuzzers then grow
the corpora, and `cargo fuzz cmin` keeps them small). Needs Pillow for the image seeds, made
from the public-domain photos in ../../shared/fixtures (see PROVENANCE.md there)."""

import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def commands():
    for i, line in enumerate([
        "/start", "/help", "/style corporate", "/style@headshot_bot tech", "/mode portrait",
        "/crop square", "/variants 4", "/delivery private", "/redo creative", "/ban 123456",
        "/pause maintenance window", "/resume", "/forget", "reroll:01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "square:01ARZ3NDEKTSV4RRFFQ69G5FAV", "forget:yes", "style:tech", "mode:studio",
        "hello there\n/style creative", "/STYLE  Creative  ",
    ]):
        write("command", f"{i:02}", line)


def configs():
    write("config", "empty", "")
    write("config", "full", """
data_dir = "data"
require_consent = false
log_format = "json"

[jobs]
workers = 2
per_user = 1

[retention]
selfies = "1h"
results = "7d"
jobs = "30d"

[delivery]
send_documents = true
backoff_base = "2s"

[intake]
max_bytes = 20000000
album_max = 4

[web]
enabled = true
bind = "127.0.0.1:8080"
max_connections = 64
header_timeout = "10s"

[diffusion]
enabled = false
steps = 20
""")
    write("config", "env", "[web]\nenabled = true\n\0HEADSHOT_WEB_BIND=127.0.0.1:0\nHEADSHOT_DIFFUSION=off\n")
    write("config", "bad-duration", "[retention]\nselfies = \"forever\"\n")
    write("config", "bad-type", "[jobs]\nworkers = \"many\"\n")
    write("config", "unknown", "[telegram]\ntoken = \"123:abc\"\nwebhook_url = \"https://x\"\n")


USER = {"id": 42, "is_bot": False, "first_name": "Ada", "username": "ada"}
PRIVATE = {"id": 42, "type": "private", "first_name": "Ada"}
GROUP = {"id": -1001, "type": "supergroup", "title": "Team", "is_forum": True}


def message(mid, chat, **extra):
    m = {"message_id": mid, "date": 1700000000, "chat": chat, "from": USER}
    m.update(extra)
    return m


def telegram():
    photo = [{"file_id": "AgAD-small", "file_unique_id": "s1", "width": 90, "height": 120, "file_size": 1200},
             {"file_id": "AgAD-large", "file_unique_id": "l1", "width": 900, "height": 1200, "file_size": 120000}]
    updates = {
        "text": {"update_id": 1, "message": message(1, PRIVATE, text="hello")},
        "command": {"update_id": 2, "message": message(2, PRIVATE, text="/style corporate",
                    entities=[{"type": "bot_command", "offset": 0, "length": 6}])},
        "photo": {"update_id": 3, "message": message(3, PRIVATE, photo=photo, caption="/style tech")},
        "album": {"update_id": 4, "message": message(4, PRIVATE, photo=photo, media_group_id="g1")},
        "document": {"update_id": 5, "message": message(5, PRIVATE, document={
            "file_id": "BQAD", "file_unique_id": "d1", "file_name": "me.png", "mime_type": "image/png",
            "file_size": 5000})},
        "group-mention": {"update_id": 6, "message": message(6, GROUP, text="@headshot_bot hi",
                          message_thread_id=7, is_topic_message=True)},
        "group-other-bot": {"update_id": 7, "message": message(7, GROUP, text="/help@other_bot")},
        "sticker": {"update_id": 8, "message": message(8, PRIVATE, sticker={
            "file_id": "CAAD", "file_unique_id": "st", "type": "regular", "width": 512, "height": 512,
            "is_animated": False, "is_video": False})},
        "callback": {"update_id": 9, "callback_query": {"id": "cb1", "from": USER, "chat_instance": "ci",
                     "data": "style:tech", "message": message(10, PRIVATE, text="Pick a style")}},
        "edited": {"update_id": 10, "edited_message": dict(message(11, PRIVATE, text="/help"), edit_date=1700000100)},
        "reply": {"update_id": 11, "message": message(12, GROUP, text="again", reply_to_message={
            "message_id": 5, "date": 1700000000, "chat": GROUP,
            "from": {"id": 7000000001, "is_bot": True, "first_name": "Headshot", "username": "headshot_bot"},
            "text": "Done"})},
    }
    for name, u in updates.items():
        write("telegram_update", name, json.dumps(u))


def discord():
    user = {"id": "1300000000000000001", "username": "ada", "discriminator": "0", "global_name": "Ada",
            "avatar": None, "public_flags": 0, "flags": 0}
    member = {"user": user, "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": False,
              "mute": False, "flags": 0, "pending": False, "nick": None, "avatar": None,
              "premium_since": None, "communication_disabled_until": None, "permissions": "2248473465835073"}
    channel = {"id": "1300000000000000010", "type": 0, "guild_id": "1300000000000000100", "name": "general",
               "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None}

    def interaction(kind, data, guild=True, message=None):
        v = {"id": "1300000000000000500", "application_id": "1300000000000000900", "type": kind,
             "data": data, "channel_id": channel["id"], "channel": channel,
             "token": "aW50ZXJhY3Rpb246fake", "version": 1, "app_permissions": "2248473465835073",
             "locale": "en-US", "entitlements": [], "attachment_size_limit": 10485760}
        if guild:
            v.update(guild_id="1300000000000000100", guild_locale="en-US", member=member, context=0,
                     authorizing_integration_owners={"0": "1300000000000000100"})
        else:
            v.update(user=user, context=1, authorizing_integration_owners={"1": user["id"]})
        if message:
            v["message"] = message
        return json.dumps(v)

    attachment = {"id": "1300000000000000700", "filename": "me.png", "size": 5000,
                  "url": "http://127.0.0.1/attachments/me.png", "proxy_url": "http://127.0.0.1/a/me.png",
                  "content_type": "image/png", "width": 64, "height": 80}

    def command(name, options, resolved=None):
        d = {"id": "1300000000000000300", "name": name, "type": 1, "options": options}
        if resolved:
            d["resolved"] = resolved
        return d

    write("discord_interaction", "headshot", interaction(2, command("headshot", [
        {"name": "selfie", "type": 11, "value": attachment["id"]},
        {"name": "style", "type": 3, "value": "tech"}, {"name": "mode", "type": 3, "value": "portrait"}],
        {"attachments": {attachment["id"]: attachment}})))
    write("discord_interaction", "headshot-dm", interaction(2, command("headshot", []), guild=False))
    write("discord_interaction", "style", interaction(2, command("style", [{"name": "style", "type": 3, "value": "creative"}])))
    write("discord_interaction", "settings", interaction(2, command("settings", [
        {"name": "delivery", "type": 3, "value": "private"}, {"name": "variants", "type": 4, "value": 3}])))
    write("discord_interaction", "server", interaction(2, command("server", [{"name": "delivery", "type": 3, "value": "dm"}])))
    write("discord_interaction", "forget", interaction(2, command("forget", [])))
    msg = {"id": "1300000000000000600", "channel_id": channel["id"], "author": user, "content": "Done",
           "timestamp": "2024-01-01T00:00:00.000000+00:00", "edited_timestamp": None, "tts": False,
           "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
           "pinned": False, "type": 0}
    write("discord_interaction", "button", interaction(3, {"custom_id": "1300000000000000001|reroll:01ARZ3NDEKTSV4RRFFQ69G5FAV", "component_type": 2}, message=msg))
    write("discord_interaction", "delete", interaction(3, {"custom_id": "1300000000000000001|del:1300000000000000010:1300000000000000500", "component_type": 2}, message=msg))
    write("discord_interaction", "select", interaction(3, {"custom_id": "1300000000000000001|pick", "component_type": 3, "values": ["style:tech"]}, message=msg))


def images():
    from PIL import Image
    fixtures = os.path.join(HERE, "..", "..", "shared", "fixtures")
    made = {}
    for name in ["astronaut.png", "grace_hopper.jpg"]:
        im = Image.open(os.path.join(fixtures, name)).convert("RGB")
        im.thumbnail((160, 160))
        for fmt, ext in [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif")]:
            out = io.BytesIO()
            im.save(out, fmt)
            made[f"{name.split('.')[0]}.{ext}"] = out.getvalue()
    tiny = Image.new("RGB", (2, 2), (200, 180, 160))
    out = io.BytesIO()
    tiny.save(out, "PNG")
    made["tiny.png"] = out.getvalue()
    out = io.BytesIO()
    Image.new("L", (48, 64), 128).save(out, "JPEG")
    made["grey.jpg"] = out.getvalue()
    for name, data in made.items():
        write("intake", name, data)
    return made


def web(images):
    write("web_request", "send", b"\x00" + json.dumps({"text": "/style corporate"}).encode())
    write("web_request", "send-hello", b"\x00" + json.dumps({"text": "hello"}).encode())
    write("web_request", "button", b"\x01" + json.dumps({"data": "style:tech"}).encode())
    write("web_request", "button-bad", b"\x01{\"data\": 5}")
    photo = images.get("grace_hopper.jpg", b"\xff\xd8\xff\xd9")
    body = (b"--fuzzboundary\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n/style tech\r\n"
            b"--fuzzboundary\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"me.jpg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n" + photo + b"\r\n--fuzzboundary--\r\n")
    write("web_request", "upload", b"\x02" + body)
    write("web_request", "upload-typed", b"\x03multipart/form-data; boundary=fuzzboundary\n" + body)
    write("web_request", "upload-text", b"\x03text/plain\nnot a form")


if __name__ == "__main__":
    commands()
    configs()
    telegram()
    discord()
    made = images() if "--no-images" not in sys.argv else {}
    web(made)
