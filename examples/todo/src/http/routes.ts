/**
 * HTTP routes of the todo API. Path parameters, the query string and the JSON body are
 * merged into each operation's input and validated by its schema.
 *
 * @module
 */

import { type Route, route } from "@krepis/core";
import {
  completeTodoCommand,
  createTodoCommand,
  deleteTodoCommand,
  renameTodoCommand,
} from "../application/commands/todo_commands.ts";
import {
  getTodoQuery,
  listTodosQuery,
} from "../application/queries/todo_queries.ts";

/** Every route of the todo API. */
export const todoRoutes: Route[] = [
  route("GET", "/todos", listTodosQuery),
  route("POST", "/todos", createTodoCommand, { status: 201 }),
  route("GET", "/todos/:id", getTodoQuery),
  route("PATCH", "/todos/:id", renameTodoCommand),
  route("POST", "/todos/:id/complete", completeTodoCommand),
  route("DELETE", "/todos/:id", deleteTodoCommand),
];
