// The page's room: join with the microphone, hear the agent, reconnect when the connection drops.

import {
  DisconnectReason,
  type Participant,
  type RemoteParticipant,
  type RemoteTrack,
  Room,
  RoomEvent,
  Track,
} from "livekit-client";
import { fetchToken, type TokenAnswer } from "./messages";

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 10000;

export interface ConnectionEvents {
  state(text: string, tone: string): void;
  joined(room: Room, token: TokenAnswer): void;
  microphone(error: string): void;
  audioBlocked(blocked: boolean): void;
  agentJoined(agent: RemoteParticipant | null): void;
}

/** Why the microphone could not be opened, in words a person can act on. */
export function explainMicrophone(error: unknown): string {
  const name = error instanceof Error ? error.name : "";
  if (name === "NotAllowedError" || name === "SecurityError")
    return "The browser refused the microphone. Allow it for this page (the icon in the address bar), then press “Try the microphone again”. You can still type to the agent.";
  if (name === "NotFoundError" || name === "OverconstrainedError")
    return "No microphone was found. Plug one in and press “Try the microphone again”, or type to the agent.";
  if (name === "NotReadableError")
    return "The microphone is in use by another program or could not be started. Close it and try again, or type to the agent.";
  return `The microphone could not be opened (${error instanceof Error ? error.message : String(error)}). You can still type to the agent.`;
}

export class Connection {
  room: Room | null = null;
  token: TokenAnswer | null = null;
  private retryMs = RETRY_FIRST_MS;
  private leaving = false;

  constructor(
    private readonly events: ConnectionEvents,
    private roomName: string,
  ) {}

  /** Join (or join again) the room, retrying with backoff until it works. */
  async join(fresh = false): Promise<void> {
    if (fresh) this.roomName = "";
    for (;;) {
      try {
        await this.connectOnce();
        this.retryMs = RETRY_FIRST_MS;
        return;
      } catch (error) {
        const wait = this.retryMs;
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
        this.events.state(`cannot connect, retrying in ${Math.round(wait / 1000)} s`, "bad");
        console.warn("playground: connect failed", error);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Leave for good (the page is closing) or before joining a fresh room. */
  async leave(): Promise<void> {
    this.leaving = true;
    const room = this.room;
    this.room = null;
    if (room) await room.disconnect();
    this.leaving = false;
  }

  /** Open the microphone (the page does once the agent listens, so no word is lost before). */
  async enableMicrophone(): Promise<void> {
    if (!this.room || this.room.localParticipant.isMicrophoneEnabled) return;
    try {
      await this.room.localParticipant.setMicrophoneEnabled(true);
      this.events.microphone("");
    } catch (error) {
      this.events.microphone(explainMicrophone(error));
    }
  }

  agent(): RemoteParticipant | null {
    if (!this.room) return null;
    for (const p of this.room.remoteParticipants.values()) if (p.isAgent) return p;
    return null;
  }

  private async connectOnce(): Promise<void> {
    this.events.state("connecting", "warn");
    const token = await fetchToken(this.roomName);
    this.roomName = token.room;
    const room = new Room({ adaptiveStream: false, dynacast: false });
    this.wire(room);
    await room.connect(token.url, token.token, { autoSubscribe: true });
    this.room = room;
    this.token = token;
    this.events.state("connected", "ok");
    this.events.joined(room, token);
    this.events.audioBlocked(!room.canPlaybackAudio);
    this.events.agentJoined(this.agent());
  }

  private wire(room: Room): void {
    room
      .on(RoomEvent.TrackSubscribed, (track: RemoteTrack) => {
        if (track.kind === Track.Kind.Audio) {
          const el = track.attach();
          el.dataset.agentAudio = "1";
          document.body.appendChild(el);
        }
      })
      .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => {
        for (const el of track.detach()) el.remove();
      })
      .on(RoomEvent.AudioPlaybackStatusChanged, () => this.events.audioBlocked(!room.canPlaybackAudio))
      .on(RoomEvent.ParticipantConnected, () => this.events.agentJoined(this.agent()))
      .on(RoomEvent.ParticipantDisconnected, (p: Participant) => {
        if (p.isAgent) this.events.agentJoined(this.agent());
      })
      .on(RoomEvent.MediaDevicesError, (error: Error) => this.events.microphone(explainMicrophone(error)))
      .on(RoomEvent.Reconnecting, () => this.events.state("connection lost, reconnecting", "warn"))
      .on(RoomEvent.Reconnected, () => this.events.state("connected", "ok"))
      .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
        if (this.leaving || this.room !== room) return;
        this.room = null;
        this.events.agentJoined(null);
        const why = reason !== undefined ? DisconnectReason[reason] : "unknown";
        this.events.state(`disconnected (${why}), rejoining`, "bad");
        void this.join();
      });
  }
}
