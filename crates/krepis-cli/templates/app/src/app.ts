import { type App, createApp, provide, route } from "@krepis/core";
import { MemoryGreetingLog } from "./adapters/memory_greeting_log.ts";
import { greetCommand } from "./application/commands/greet.ts";
import { countGreetingsQuery } from "./application/queries/count_greetings.ts";
import { GreetingLogPort } from "./ports/greeting_log.ts";

/** The app module: adapters, commands, queries and routes (`krepis gen` edits it). */
export function buildApp(): App {
  return createApp({
    adapters: [provide(GreetingLogPort, new MemoryGreetingLog())],
    commands: [greetCommand],
    queries: [countGreetingsQuery],
    routes: [
      route("POST", "/greet", greetCommand),
      route("GET", "/greetings/count", countGreetingsQuery),
    ],
  });
}
