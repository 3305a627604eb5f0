import { closeSync, constants, openSync } from "node:fs";
import { Socket } from "node:net";
import { forEachLine } from "./child.js";

export interface FollowedFifo {
  /** Stops reading and closes the descriptor. */
  close(): void;
}

/**
 * Follows the lines a child writes into a FIFO (keepalived's notify FIFO, the policy log's ulogd output). Opened
 * read-write and non-blocking: the open never waits for a writer, a writer's open never waits for us, and a
 * writer closing (its restart) never ends the stream. Calls `onLine` with each complete, non-blank line.
 */
export function followFifo(path: string, onLine: (line: string) => void, onError: (error: Error) => void): FollowedFifo {
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  let socket: Socket;
  try {
    socket = new Socket({ fd, readable: true, writable: false });
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  forEachLine(socket, onLine);
  socket.on("error", onError);
  // Destroying the socket closes the descriptor it was given.
  return { close: () => void socket.destroy() };
}
