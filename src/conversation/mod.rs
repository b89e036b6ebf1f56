//! The conversation: commands, settings, consent, photos in, replies out, one file per group
//! of commands. No platform types: everything arrives as an [`Inbound`] and leaves through the
//! platform's [`crate::FrontEnd`].

mod admin;
mod consent;
mod jobs;
mod photos;
mod settings;

use crate::chat::{ChatRef, Event, Inbound, UserKey};
use crate::command::{Action, Command};
use crate::job::{Settings, UserRecord};
use crate::runtime::Core;
use crate::store::StoreError;
use crate::text;

/// Handles one inbound event. Never fails: store errors are logged and answered with a
/// neutral message.
pub(crate) async fn handle(core: &Core, inbound: Inbound) {
    let chat = inbound.chat.clone();
    if let Err(e) = dispatch(core, inbound).await {
        tracing::error!(error = %e, "handling a message failed");
        core.frontends.say(&chat, text::generation_failed()).await;
    }
}

async fn dispatch(core: &Core, inbound: Inbound) -> Result<(), StoreError> {
    let Inbound { user, chat, event } = inbound;
    let admin = core.config.access.admins.contains(&user);
    if !admin && (!allowed(core, &user, &chat) || core.store.is_banned(&user)?) {
        core.frontends.say(&chat, text::refused()).await;
        return Ok(());
    }
    match event {
        Event::Command(command) => self::command(core, &user, &chat, command, admin).await,
        Event::Photos { uploads, caption } => photos::photos(core, &user, &chat, uploads, caption).await,
        Event::Button { data } => match Action::decode(&data) {
            Some(action) => self::action(core, &user, &chat, action).await,
            None => {
                core.frontends.say(&chat, text::stale_button()).await;
                Ok(())
            }
        },
        Event::Text(_) => {
            core.frontends.say(&chat, text::hint()).await;
            Ok(())
        }
        Event::Other(what) => {
            core.frontends.say(&chat, text::hint_other(&what)).await;
            Ok(())
        }
    }
}

async fn command(
    core: &Core,
    user: &UserKey,
    chat: &ChatRef,
    command: Command,
    admin: bool,
) -> Result<(), StoreError> {
    let say = |text: String| core.frontends.say(chat, text);
    match command {
        Command::Start => consent::start(core, user, chat).await?,
        Command::Help => drop(say(text::help()).await),
        Command::Styles => settings::show_styles(core, chat).await,
        Command::Set(setting) => drop(say(settings::apply(core, user, setting)?).await),
        Command::BadValue(kind) => drop(say(settings::expected(core, kind)).await),
        Command::Settings => settings::show_settings(core, user, chat).await?,
        Command::Status => jobs::status(core, user, chat).await?,
        Command::Cancel => {
            let n = jobs::cancel_all(core, user)?;
            say(text::cancelled(n)).await;
        }
        Command::Redo { style } => jobs::redo(core, user, chat, None, style.as_deref()).await?,
        Command::Forget => consent::ask_forget(core, chat).await,
        Command::Privacy => drop(say(text::privacy(&core.config)).await),
        Command::Quota => {
            let (used, waiting) = jobs::usage(core, user)?;
            let j = &core.config.jobs;
            say(text::quota(
                used,
                j.daily_per_user.get(),
                waiting,
                j.max_queued_per_user.get(),
            ))
            .await;
        }
        Command::Agree => consent::agree(core, user, chat).await?,
        Command::Admin(command) if admin => admin::run(core, chat, command).await?,
        Command::Admin(_) => drop(say(text::admin_only()).await),
        Command::Unknown(name) => drop(say(text::unknown_command(&name)).await),
    }
    Ok(())
}

async fn action(core: &Core, user: &UserKey, chat: &ChatRef, action: Action) -> Result<(), StoreError> {
    match action {
        Action::Agree => consent::agree(core, user, chat).await?,
        Action::Decline => consent::decline(core, user, chat).await?,
        Action::Styles => settings::show_styles(core, chat).await,
        Action::Set(setting) => {
            let reply = settings::apply(core, user, setting)?;
            core.frontends.say(chat, reply).await;
        }
        Action::Reroll(job) => jobs::redo(core, user, chat, Some(&job), None).await?,
        Action::Square(job) => jobs::squares(core, user, chat, &job).await?,
        Action::Forget { confirmed } => consent::forget(core, user, chat, confirmed).await?,
    }
    Ok(())
}

fn allowed(core: &Core, user: &UserKey, chat: &ChatRef) -> bool {
    let a = &core.config.access;
    if a.users.is_empty() && a.chats.is_empty() && a.servers.is_empty() {
        return true;
    }
    a.users.contains(user)
        || a.chats.contains(&format!("{}:{}", chat.platform, chat.chat_id))
        || chat.server_id.as_ref().is_some_and(|s| a.servers.contains(s))
}

/// The user's record, created with defaults on first sight.
fn user_record(core: &Core, user: &UserKey) -> Result<UserRecord, StoreError> {
    if let Some(record) = core.store.user(user)? {
        return Ok(record);
    }
    let style = core.catalog.default_style();
    Ok(UserRecord {
        settings: Settings {
            style: style.name.clone(),
            background: None,
            mode: style.mode,
            crop: None,
            variants: 1,
            private_delivery: false,
            public_thread: false,
        },
        consent_ms: None,
        created_ms: core.clock.now_ms(),
        private_chat: None,
    })
}
