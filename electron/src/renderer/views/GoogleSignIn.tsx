/**
 * "Connect Google Calendar": the host hands out Google's authorization URL and a `state`
 * (plugins/google_calendar), main opens the URL in the system browser, and this polls the
 * sign-in's outcome until Google has sent the browser back to the host. The account itself
 * then shows in the plugin's list, which reloads on the `google_calendar.signed_in` event.
 */

import { useEffect, useRef, useState } from "react";

import { errorMessage, type HostClient } from "../api/hostClient";
import { ErrorNote } from "./common";

export const GOOGLE_CALENDAR = "google_calendar";
const PREFIX = `/plugins/${GOOGLE_CALENDAR}`;
const POLL_MS = 1000;

interface Started {
  authorization_url: string;
  state: string;
  expires_in: number;
}

type Outcome =
  | { status: "pending" }
  | { status: "succeeded"; account_id: string }
  | { status: "failed" | "expired"; error?: string };

export function GoogleSignIn({ client, onSignedIn }: { client: HostClient; onSignedIn: () => void }) {
  const [waiting, setWaiting] = useState(false);
  const [note, setNote] = useState<string>();
  const [error, setError] = useState<string>();
  const cancelled = useRef(false);
  useEffect(() => () => void (cancelled.current = true), []);

  async function follow(started: Started): Promise<void> {
    const deadline = Date.now() + started.expires_in * 1000;
    while (!cancelled.current && Date.now() < deadline) {
      const outcome = await client.get<Outcome>(`${PREFIX}/oauth/status/${encodeURIComponent(started.state)}`);
      if (outcome.status === "succeeded") {
        setNote(`Connected ${outcome.account_id}.`);
        onSignedIn();
        return;
      }
      if (outcome.status !== "pending") {
        throw new Error(outcome.status === "expired" ? "The sign-in expired; start it again." : `The sign-in failed: ${outcome.error ?? "no reason given"}.`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    if (!cancelled.current) throw new Error("The sign-in was not finished in time; start it again.");
  }

  async function connect(): Promise<void> {
    setError(undefined);
    setNote(undefined);
    setWaiting(true);
    try {
      const started = await client.post<Started>(`${PREFIX}/oauth/start`, {});
      await window.pythonServer.openExternal(started.authorization_url);
      setNote("Finish signing in to Google in your browser…");
      await follow(started);
    } catch (failure) {
      setNote(undefined);
      setError(errorMessage(failure));
    } finally {
      setWaiting(false);
    }
  }

  return (
    <div className="google-sign-in">
      <button data-testid="google-connect" disabled={waiting} onClick={() => void connect()}>
        Connect Google Calendar
      </button>
      {note && (
        <div className="note" data-testid="google-note">
          {note}
        </div>
      )}
      <ErrorNote error={error} />
    </div>
  );
}

/** Revokes the grant at Google and forgets the refresh token; the account turns needs_reauth. */
export async function disconnectGoogle(client: HostClient, accountId: string): Promise<string> {
  const answer = await client.post<{ revoked: boolean }>(`${PREFIX}/accounts/${encodeURIComponent(accountId)}/disconnect`);
  return answer.revoked ? "Disconnected: Google no longer gives enttok access." : "Disconnected.";
}
