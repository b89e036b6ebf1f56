//! The conversation: commands, settings, consent, photos in, replies out. No platform types:
//! everything arrives as an [`Inbound`] and leaves through the platform's [`crate::FrontEnd`].

use std::sync::Arc;

use headshot_models::{Crop, IntakeError, IntakeReport, Mode, Style};

use crate::chat::{Button, ChatRef, Event, Inbound, Outbound, Upload, UserKey};
use crate::job::{Job, JobState, Settings, UserRecord};
use crate::service::{Inner, Service};
use crate::store::StoreError;
use crate::text;

/// Backdrop names accepted by `/background`.
pub const BACKGROUNDS: [&str; 5] = ["white", "grey", "gradient", "blur", "dark"];

impl Service {
    /// Handles one inbound event: replies go to the event's chat through its platform's front
    /// end. Never fails: store errors are logged and answered with a neutral message.
    pub async fn handle(&self, inbound: Inbound) {
        let chat = inbound.chat.clone();
        if let Err(e) = self.inner.clone().handle(inbound).await {
            tracing::error!(error = %e, "handling a message failed");
            self.inner.say(&chat, text::generation_failed()).await;
        }
    }
}

impl Inner {
    async fn handle(self: Arc<Self>, inbound: Inbound) -> Result<(), StoreError> {
        let Inbound { user, chat, event } = inbound;
        let admin = self.config.access.admins.contains(&user);
        if !admin && (!self.allowed(&user, &chat) || self.store.is_banned(&user)?) {
            self.say(&chat, text::refused()).await;
            return Ok(());
        }
        match event {
            Event::Command { name, args } => self.command(&user, &chat, &name, args.trim(), admin).await,
            Event::Photos { uploads, caption } => self.photos(&user, &chat, uploads, caption).await,
            Event::Button { data } => self.button(&user, &chat, &data).await,
            Event::Text(_) => {
                self.say(&chat, text::hint()).await;
                Ok(())
            }
            Event::Other(what) => {
                self.say(&chat, text::hint_other(&what)).await;
                Ok(())
            }
        }
    }

    fn allowed(&self, user: &UserKey, chat: &ChatRef) -> bool {
        let a = &self.config.access;
        if a.users.is_empty() && a.chats.is_empty() && a.servers.is_empty() {
            return true;
        }
        a.users.contains(user)
            || a.chats.contains(&format!("{}:{}", chat.platform, chat.chat_id))
            || chat.server_id.as_ref().is_some_and(|s| a.servers.contains(s))
    }

    /// The user's record, created with defaults on first sight.
    fn user_record(&self, user: &UserKey) -> Result<UserRecord, StoreError> {
        if let Some(record) = self.store.user(user)? {
            return Ok(record);
        }
        let style = self.catalog.default_style();
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
            created_ms: self.clock.now_ms(),
            private_chat: None,
        })
    }

    fn update_settings(
        &self,
        user: &UserKey,
        change: impl FnOnce(&mut Settings),
    ) -> Result<Settings, StoreError> {
        let mut record = self.user_record(user)?;
        change(&mut record.settings);
        self.store.put_user(user, &record)?;
        Ok(record.settings)
    }

    async fn command(
        self: &Arc<Self>,
        user: &UserKey,
        chat: &ChatRef,
        name: &str,
        args: &str,
        admin: bool,
    ) -> Result<(), StoreError> {
        match name {
            "start" => {
                self.say(chat, text::welcome()).await;
                if self.config.require_consent && self.user_record(user)?.consent_ms.is_none() {
                    self.ask_consent(chat).await;
                }
            }
            "help" => drop(self.say(chat, text::help()).await),
            "styles" => self.show_styles(chat).await,
            "style" | "background" | "mode" | "crop" | "variants" | "delivery" => {
                let reply = self.apply_setting(user, name, args)?;
                self.say(chat, reply).await;
            }
            "settings" => self.show_settings(user, chat).await?,
            "status" => self.status(user, chat).await?,
            "cancel" => {
                let n = self.cancel_jobs(user)?;
                self.say(chat, text::cancelled(n)).await;
            }
            "redo" => {
                self.redo(user, chat, None, (!args.is_empty()).then_some(args))
                    .await?
            }
            "forget" => {
                let buttons = vec![vec![
                    button(text::FORGET_YES_BUTTON, "forget:yes"),
                    button(text::FORGET_NO_BUTTON, "forget:no"),
                ]];
                self.send(
                    chat,
                    Outbound::Text {
                        text: text::forget_confirm(),
                        buttons,
                    },
                )
                .await;
            }
            "privacy" => drop(self.say(chat, text::privacy(&self.config)).await),
            "quota" => {
                let (used, waiting) = self.usage(user)?;
                let j = &self.config.jobs;
                let reply = text::quota(used, j.daily_per_user.get(), waiting, j.max_queued_per_user.get());
                self.say(chat, reply).await;
            }
            "agree" => self.agree(user, chat).await?,
            "stats" | "pause" | "resume" | "ban" | "unban" => {
                if admin {
                    self.admin(chat, name, args).await?;
                } else {
                    self.say(chat, text::admin_only()).await;
                }
            }
            other => drop(self.say(chat, text::unknown_command(other)).await),
        }
        Ok(())
    }

    async fn admin(&self, chat: &ChatRef, name: &str, args: &str) -> Result<(), StoreError> {
        let reply = match name {
            "stats" => {
                let (queued, running) = {
                    let s = self.sched.lock().unwrap_or_else(|e| e.into_inner());
                    (s.queued(), s.running())
                };
                let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner()).clone();
                text::admin_stats(queued, running, &self.store.stats()?, paused.as_deref())
            }
            "pause" => {
                let reason = if args.is_empty() { "maintenance" } else { args };
                *self.paused.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.to_string());
                text::admin_paused(reason)
            }
            "resume" => {
                *self.paused.lock().unwrap_or_else(|e| e.into_inner()) = None;
                text::admin_resumed()
            }
            _ => match args.parse::<UserKey>() {
                Ok(target) => {
                    self.store.set_banned(&target, name == "ban")?;
                    text::admin_banned(&target.to_string(), name == "ban")
                }
                Err(e) => text::admin_usage(name, &e),
            },
        };
        self.say(chat, reply).await;
        Ok(())
    }

    /// Applies a settings command and returns the reply.
    fn apply_setting(&self, user: &UserKey, name: &str, args: &str) -> Result<String, StoreError> {
        let arg = args.split_whitespace().next().unwrap_or("").to_lowercase();
        Ok(match name {
            "style" => match self.catalog.get(&arg) {
                Some(style) => {
                    let (n, mode) = (style.name.clone(), style.mode);
                    self.update_settings(user, |s| {
                        s.style = n;
                        s.mode = mode;
                    })?;
                    text::style_set(style)
                }
                None if arg.is_empty() => text::bad_value("style", "a style name; see /styles"),
                None => text::unknown_style(&arg, &self.catalog),
            },
            "background" => {
                let hex =
                    arg.starts_with('#') && arg.len() == 7 && arg[1..].chars().all(|c| c.is_ascii_hexdigit());
                if BACKGROUNDS.contains(&arg.as_str()) || hex {
                    self.update_settings(user, |s| s.background = Some(arg.clone()))?;
                    text::setting_set("Background", &arg)
                } else if arg == "default" {
                    self.update_settings(user, |s| s.background = None)?;
                    text::setting_set("Background", "the style's default")
                } else {
                    text::bad_value(
                        "background",
                        "white, grey, gradient, blur, dark, default or a #rrggbb colour",
                    )
                }
            }
            "mode" => match arg.parse::<Mode>() {
                Ok(mode) => {
                    let current = self.user_record(user)?.settings;
                    let style = if self.style_of(&current).mode == mode {
                        current.style
                    } else {
                        self.catalog
                            .of_mode(mode)
                            .next()
                            .map(|s| s.name.clone())
                            .unwrap_or(current.style)
                    };
                    self.update_settings(user, |s| {
                        s.mode = mode;
                        s.style = style.clone();
                    })?;
                    format!("{} (style {style})", text::setting_set("Mode", &mode.to_string()))
                }
                Err(_) => text::bad_value("mode", "headshot or portrait"),
            },
            "crop" => match arg.parse::<Crop>() {
                Ok(crop) => {
                    self.update_settings(user, |s| s.crop = Some(crop))?;
                    text::setting_set("Crop", &crop.to_string())
                }
                Err(_) => text::bad_value("crop", "4:5, 1:1 or both"),
            },
            "variants" => match arg.parse::<u32>() {
                Ok(n) if (1..=self.config.jobs.max_variants).contains(&n) => {
                    self.update_settings(user, |s| s.variants = n)?;
                    text::setting_set("Variants", &n.to_string())
                }
                _ => text::bad_value(
                    "variants",
                    &format!("a number from 1 to {}", self.config.jobs.max_variants),
                ),
            },
            _ => match arg.as_str() {
                "private" | "dm" => {
                    self.update_settings(user, |s| s.private_delivery = true)?;
                    text::setting_set("Delivery", "private chat")
                }
                "here" | "thread" => {
                    self.update_settings(user, |s| {
                        s.private_delivery = false;
                        s.public_thread = false;
                    })?;
                    text::setting_set("Delivery", "this chat (a private thread on Discord)")
                }
                "public" => {
                    self.update_settings(user, |s| {
                        s.private_delivery = false;
                        s.public_thread = true;
                    })?;
                    text::setting_set("Delivery", "this chat (a public thread on Discord)")
                }
                _ => text::bad_value("delivery", "here, private, thread or public"),
            },
        })
    }

    async fn show_styles(&self, chat: &ChatRef) {
        let buttons: Vec<Vec<Button>> = self
            .catalog
            .styles()
            .chunks(3)
            .map(|row| {
                row.iter()
                    .map(|s| button(&s.title, &format!("style:{}", s.name)))
                    .collect()
            })
            .collect();
        let text = format!("{}\n{}", text::styles_header(), text::style_lines(&self.catalog));
        self.send(chat, Outbound::Text { text, buttons }).await;
    }

    async fn show_settings(&self, user: &UserKey, chat: &ChatRef) -> Result<(), StoreError> {
        let settings = self.user_record(user)?.settings;
        let style = self.style_of(&settings);
        let buttons = vec![
            vec![
                button("Headshot", "mode:headshot"),
                button("Portrait", "mode:portrait"),
            ],
            vec![
                button("4:5", "crop:4:5"),
                button("1:1", "crop:1:1"),
                button("Both", "crop:both"),
            ],
            (1..=self.config.jobs.max_variants)
                .map(|n| {
                    button(
                        &format!("{n} variant{}", if n > 1 { "s" } else { "" }),
                        &format!("variants:{n}"),
                    )
                })
                .collect(),
            vec![
                button("Deliver here", "delivery:here"),
                button("Deliver privately", "delivery:private"),
            ],
        ];
        self.send(
            chat,
            Outbound::Text {
                text: text::settings(&settings, style),
                buttons,
            },
        )
        .await;
        Ok(())
    }

    async fn status(&self, user: &UserKey, chat: &ChatRef) -> Result<(), StoreError> {
        let jobs: Vec<Job> = self
            .store
            .jobs_of(user)?
            .into_iter()
            .filter(|j| j.state.is_active())
            .collect();
        if jobs.is_empty() {
            self.say(chat, text::status_idle()).await;
            return Ok(());
        }
        let lines: Vec<String> = jobs
            .iter()
            .map(|j| match j.state {
                JobState::Queued => {
                    let pos = self
                        .sched
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .position(user, &j.id);
                    text::queued(pos.unwrap_or(1), pos.and_then(|p| self.eta_for_position(p)))
                }
                JobState::Running => text::running("generating", 0, 1, self.mean_duration()),
                _ => text::consent(&self.config),
            })
            .collect();
        self.say(chat, lines.join("\n")).await;
        Ok(())
    }

    /// Cancels every waiting or running job of the user; returns how many.
    fn cancel_jobs(&self, user: &UserKey) -> Result<usize, StoreError> {
        let mut count = 0;
        for job in self.store.jobs_of(user)? {
            if !job.state.is_active() {
                continue;
            }
            let now = self.clock.now_ms();
            let cancelled = self.store.update_job(user, &job.id, |j| {
                if !j.state.is_active() {
                    return false;
                }
                j.state = JobState::Cancelled;
                j.updated_ms = now;
                j.finished_ms = Some(now);
                true
            })?;
            if cancelled.is_some_and(|j| j.state == JobState::Cancelled) {
                self.sched
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(user, &job.id);
                self.raise_cancel(&job.id);
                count += 1;
            }
        }
        Ok(count)
    }

    /// Jobs started in the last 24 hours, and those of them waiting now (a range scan over
    /// time-ordered ids, so a long history costs nothing).
    fn usage(&self, user: &UserKey) -> Result<(usize, usize), StoreError> {
        let day_ago = self.clock.now_ms().saturating_sub(24 * 3600 * 1000);
        let jobs = self.store.jobs_since(user, day_ago)?;
        let waiting = jobs
            .iter()
            .filter(|j| matches!(j.state, JobState::Pending | JobState::Queued))
            .count();
        Ok((jobs.len(), waiting))
    }

    async fn button(self: &Arc<Self>, user: &UserKey, chat: &ChatRef, data: &str) -> Result<(), StoreError> {
        let (verb, arg) = data.split_once(':').unwrap_or((data, ""));
        match verb {
            "agree" => self.agree(user, chat).await?,
            "decline" => {
                for job in self
                    .store
                    .jobs_of(user)?
                    .into_iter()
                    .filter(|j| j.state == JobState::Pending)
                {
                    self.store.update_job(user, &job.id, |j| {
                        j.state = JobState::Cancelled;
                        true
                    })?;
                    for s in &job.selfies {
                        self.store
                            .remove_selfie_key(format!("{}{s}", user.prefix()).as_bytes())?;
                    }
                }
                self.say(chat, text::declined()).await;
            }
            "styles" => self.show_styles(chat).await,
            "style" | "mode" | "crop" | "variants" | "delivery" => {
                let reply = self.apply_setting(user, verb, arg)?;
                self.say(chat, reply).await;
            }
            "reroll" => self.redo(user, chat, Some(arg), None).await?,
            "square" => match self.store.job(user, arg)? {
                Some(job) if job.results > 0 => {
                    let entry = self.entry_for(&job, crate::job::Delivery::Squares);
                    self.store.put_job_with_entry(&job, &entry)?;
                    self.deliver.notify_one();
                }
                _ => drop(self.say(chat, text::stale_button()).await),
            },
            "forget" if arg == "yes" => {
                self.cancel_jobs(user)?;
                self.store.forget(user)?;
                self.say(chat, text::forgotten()).await;
            }
            "forget" => drop(self.say(chat, text::forget_kept()).await),
            _ => drop(self.say(chat, text::stale_button()).await),
        }
        Ok(())
    }

    async fn ask_consent(&self, chat: &ChatRef) {
        let buttons = vec![vec![
            button(text::AGREE_BUTTON, "agree"),
            button(text::DECLINE_BUTTON, "decline"),
        ]];
        self.send(
            chat,
            Outbound::Text {
                text: text::consent(&self.config),
                buttons,
            },
        )
        .await;
    }

    async fn agree(self: &Arc<Self>, user: &UserKey, chat: &ChatRef) -> Result<(), StoreError> {
        let mut record = self.user_record(user)?;
        if record.consent_ms.is_none() {
            record.consent_ms = Some(self.clock.now_ms());
            self.store.put_user(user, &record)?;
        }
        let pending: Vec<Job> = self
            .store
            .jobs_of(user)?
            .into_iter()
            .filter(|j| j.state == JobState::Pending)
            .collect();
        self.say(chat, text::agreed(pending.len())).await;
        for job in pending {
            let queued = self.store.update_job(user, &job.id, |j| {
                if j.state != JobState::Pending {
                    return false;
                }
                j.state = JobState::Queued;
                true
            })?;
            if let Some(job) = queued.filter(|j| j.state == JobState::Queued) {
                self.store.flush().await?;
                self.enqueue(job, None).await?;
            }
        }
        Ok(())
    }

    /// Photos in: checks, intake, durable job, acknowledgement.
    async fn photos(
        self: &Arc<Self>,
        user: &UserKey,
        chat: &ChatRef,
        mut uploads: Vec<Upload>,
        caption: Option<String>,
    ) -> Result<(), StoreError> {
        let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(reason) = paused {
            self.say(chat, text::paused(&reason)).await;
            return Ok(());
        }
        if !self.accepting.load(std::sync::atomic::Ordering::SeqCst) {
            self.say(chat, text::busy()).await;
            return Ok(());
        }
        if let Some(caption) = caption.as_deref().map(str::trim).filter(|c| c.starts_with('/')) {
            let (name, args) = caption[1..]
                .split_once(char::is_whitespace)
                .unwrap_or((&caption[1..], ""));
            let name = name.split('@').next().unwrap_or(name).to_lowercase();
            if matches!(
                name.as_str(),
                "style" | "background" | "mode" | "crop" | "variants"
            ) {
                let reply = self.apply_setting(user, &name, args.trim())?;
                self.say(chat, reply).await;
            }
        }
        if self.already_taken(user, chat, &uploads)? {
            tracing::info!(user = %user, "a photo message arrived again (redelivered update); ignored");
            return Ok(());
        }
        if let Some(refusal) = self.check_caps(user)? {
            self.say(chat, refusal).await;
            return Ok(());
        }
        uploads.truncate(self.config.intake.album_max);
        let total = uploads.len();
        let reports = self.intake(&uploads).await;
        let accepted: Vec<(usize, IntakeReport)> = reports
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().ok().map(|r| (i, r.clone())))
            .collect();
        if accepted.is_empty() {
            let err = reports
                .into_iter()
                .find_map(Result::err)
                .unwrap_or(IntakeError::NoFace);
            self.say(chat, text::intake_refusal(&err)).await;
            return Ok(());
        }
        let best = accepted
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.1.score.total_cmp(&b.1.1.score))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let record = self.user_record(user)?;
        let now = self.clock.now_ms();
        let selfies: Vec<(String, Vec<u8>)> = accepted
            .iter()
            .map(|(_, r)| (self.new_id(), r.clean.clone()))
            .collect();
        let primary_upload = &uploads[accepted[best].0];
        let stem = primary_upload
            .file_name
            .as_deref()
            .and_then(|n| std::path::Path::new(n).file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "selfie".into());
        let mut job_chat = chat.clone();
        if let Some(message) = &primary_upload.message_id {
            job_chat.reply_to = Some(message.clone());
        }
        let consent_needed = self.config.require_consent && record.consent_ms.is_none();
        let job = Job {
            id: self.new_id(),
            user: user.clone(),
            chat: job_chat,
            state: if consent_needed {
                JobState::Pending
            } else {
                JobState::Queued
            },
            created_ms: now,
            updated_ms: now,
            selfies: selfies.iter().map(|(id, _)| id.clone()).collect(),
            primary: best,
            stem,
            settings: record.settings.clone(),
            first_variant: 1,
            seed: rand::random(),
            status_message: None,
            attempts: 0,
            failure: None,
            engine: None,
            checklist: None,
            results: 0,
            finished_ms: None,
            generation_ms: None,
        };
        if self.store.user(user)?.is_none() {
            self.store.put_user(user, &record)?;
        }
        self.store.create_job(&job, &selfies)?;
        self.store.flush().await?;
        if consent_needed {
            self.ask_consent(chat).await;
            return Ok(());
        }
        let note = (total > 1).then(|| text::album_choice(accepted[best].0, total, total - accepted.len()));
        self.enqueue(job, note).await
    }

    /// True when a job was already made from this photo message: platforms redeliver updates
    /// that a crashed process read but never confirmed, and one selfie must make one job.
    fn already_taken(&self, user: &UserKey, chat: &ChatRef, uploads: &[Upload]) -> Result<bool, StoreError> {
        let Some(message) = uploads.iter().find_map(|u| u.message_id.as_deref()) else {
            return Ok(false);
        };
        let day_ago = self.clock.now_ms().saturating_sub(24 * 3600 * 1000);
        Ok(self
            .store
            .jobs_since(user, day_ago)?
            .iter()
            .any(|j| j.chat.chat_id == chat.chat_id && j.chat.reply_to.as_deref() == Some(message)))
    }

    /// Refusal text if the user or the service is at a cap.
    fn check_caps(&self, user: &UserKey) -> Result<Option<String>, StoreError> {
        let j = &self.config.jobs;
        let (used, waiting) = self.usage(user)?;
        if used >= j.daily_per_user.get() {
            return Ok(Some(text::quota_exceeded(j.daily_per_user.get())));
        }
        if waiting >= j.max_queued_per_user.get() {
            return Ok(Some(text::too_many_waiting(j.max_queued_per_user.get())));
        }
        if self.sched.lock().unwrap_or_else(|e| e.into_inner()).queued() >= j.max_queue.get() {
            return Ok(Some(text::busy()));
        }
        Ok(None)
    }

    /// Runs the generator's intake checks on the small intake pool.
    async fn intake(&self, uploads: &[Upload]) -> Vec<Result<IntakeReport, IntakeError>> {
        let _permit = self.intake.acquire().await.expect("never closed");
        let generator = self.generator.clone();
        let bytes: Vec<Vec<u8>> = uploads.iter().map(|u| u.bytes.clone()).collect();
        tokio::task::spawn_blocking(move || bytes.iter().map(|b| generator.intake(b)).collect())
            .await
            .unwrap_or_else(|_| vec![Err(IntakeError::NoFace); uploads.len()])
    }

    /// A durable queued job: acknowledge with the status message, then schedule it.
    async fn enqueue(&self, job: Job, note: Option<String>) -> Result<(), StoreError> {
        let position = self
            .sched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .position_if_pushed(&job.user);
        let mut status = text::queued(position, self.eta_for_position(position));
        if let Some(note) = note {
            status = format!("{note}\n{status}");
        }
        let message = self
            .send(
                &job.chat,
                Outbound::Text {
                    text: status,
                    buttons: Vec::new(),
                },
            )
            .await;
        if message.is_some() {
            self.store.update_job(&job.user, &job.id, |j| {
                j.status_message = message.clone();
                true
            })?;
        }
        let still_queued = self
            .store
            .job(&job.user, &job.id)?
            .is_some_and(|j| j.state == JobState::Queued);
        if still_queued {
            self.sched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(&job.user, job.id.clone());
            self.work.notify_one();
        }
        Ok(())
    }

    /// `/redo` and Reroll: the same selfies again, next variants or another style.
    async fn redo(
        self: &Arc<Self>,
        user: &UserKey,
        chat: &ChatRef,
        job_id: Option<&str>,
        style: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(name) = style {
            let reply = self.apply_setting(user, "style", name)?;
            if self.catalog.get(name).is_none() {
                self.say(chat, reply).await;
                return Ok(());
            }
        }
        let jobs = self.store.jobs_of(user)?;
        let previous = match job_id {
            Some(id) => jobs.into_iter().find(|j| j.id == id),
            None => jobs.into_iter().rev().find(|j| !j.selfies.is_empty()),
        };
        let Some(previous) = previous else {
            self.say(chat, text::nothing_to_redo()).await;
            return Ok(());
        };
        let selfies: Vec<(String, Vec<u8>)> = previous
            .selfies
            .iter()
            .filter_map(|s| self.store.selfie(user, s).ok().flatten().map(|b| (s.clone(), b)))
            .collect();
        if selfies.len() != previous.selfies.len() || selfies.is_empty() {
            self.say(chat, text::nothing_to_redo()).await;
            return Ok(());
        }
        if let Some(refusal) = self.check_caps(user)? {
            self.say(chat, refusal).await;
            return Ok(());
        }
        let settings = self.user_record(user)?.settings;
        let same_style = settings.style == previous.settings.style;
        let now = self.clock.now_ms();
        let mut job_chat = chat.clone();
        job_chat.reply_to = previous.chat.reply_to.clone();
        let job = Job {
            id: self.new_id(),
            chat: job_chat,
            state: JobState::Queued,
            created_ms: now,
            updated_ms: now,
            first_variant: if same_style {
                previous.first_variant + previous.settings.variants
            } else {
                1
            },
            seed: rand::random(),
            settings,
            status_message: None,
            attempts: 0,
            failure: None,
            engine: None,
            checklist: None,
            results: 0,
            finished_ms: None,
            generation_ms: None,
            ..previous
        };
        self.store.create_job(&job, &[])?;
        self.store.flush().await?;
        self.enqueue(job, None).await
    }

    /// The catalog style named in the settings (the default style if it disappeared).
    pub(crate) fn style_of(&self, settings: &Settings) -> &Style {
        self.catalog
            .get(&settings.style)
            .unwrap_or_else(|| self.catalog.default_style())
    }

    /// The style with the user's background override applied.
    pub(crate) fn effective_style(&self, settings: &Settings) -> Style {
        use headshot_models::style::{Backdrop, BackdropKind};
        let mut style = self.style_of(settings).clone();
        let solid = |c: &str| Backdrop {
            kind: BackdropKind::Solid,
            colors: vec![c.to_string()],
        };
        if let Some(bg) = &settings.background {
            style.backdrop = match bg.as_str() {
                "white" => solid("#ffffff"),
                "grey" => solid("#d9dcdf"),
                "gradient" => Backdrop {
                    kind: BackdropKind::Gradient,
                    colors: vec!["#eceef1".into(), "#c9ced4".into()],
                },
                "blur" => Backdrop {
                    kind: BackdropKind::BlurOriginal,
                    colors: Vec::new(),
                },
                "dark" => Backdrop {
                    kind: BackdropKind::DarkenOriginal,
                    colors: vec!["#1e1f23".into()],
                },
                hex => solid(hex),
            };
        }
        style
    }
}

fn button(label: &str, data: &str) -> Button {
    Button {
        label: label.to_string(),
        data: data.to_string(),
    }
}
