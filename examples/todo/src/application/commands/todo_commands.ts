/**
 * Commands of the todo application: load, apply a pure domain function, save.
 *
 * @module
 */

import { AppError, defineCommand, err, ok } from "@krepis/core";
import { completeTodo, createTodo, renameTodo } from "../../domain/todo.ts";
import {
  ClockPort,
  IdGeneratorPort,
  TodoRepositoryPort,
} from "../../ports/todo_ports.ts";
import {
  CreateTodoInput,
  RenameTodoInput,
  TodoId,
  TodoSchema,
} from "../schemas.ts";

const notFound = (id: string) =>
  err(new AppError("NOT_FOUND", `no todo with id "${id}"`));

/** Creates a todo. */
export const createTodoCommand = defineCommand({
  name: "createTodo",
  description: "Create a todo",
  input: CreateTodoInput,
  output: TodoSchema,
  deps: { todos: TodoRepositoryPort, clock: ClockPort, ids: IdGeneratorPort },
  async handle(ctx, input, { todos, clock, ids }) {
    const todo = createTodo(ids.next(ctx), input.title, clock.now(ctx));
    if (!todo.ok) return todo;
    await todos.save(ctx, todo.value);
    ctx.log.info("todo created", { todoId: todo.value.id });
    return todo;
  },
});

/** Renames an open todo. */
export const renameTodoCommand = defineCommand({
  name: "renameTodo",
  description: "Rename an open todo",
  input: RenameTodoInput,
  output: TodoSchema,
  deps: { todos: TodoRepositoryPort },
  async handle(ctx, input, { todos }) {
    const current = await todos.get(ctx, input.id);
    if (!current) return notFound(input.id);
    const renamed = renameTodo(current, input.title);
    if (renamed.ok) await todos.save(ctx, renamed.value);
    return renamed;
  },
});

/** Marks a todo as done. */
export const completeTodoCommand = defineCommand({
  name: "completeTodo",
  description: "Mark a todo as done",
  input: TodoId,
  output: TodoSchema,
  deps: { todos: TodoRepositoryPort, clock: ClockPort },
  async handle(ctx, input, { todos, clock }) {
    const current = await todos.get(ctx, input.id);
    if (!current) return notFound(input.id);
    const done = completeTodo(current, clock.now(ctx));
    if (done.ok) await todos.save(ctx, done.value);
    return done;
  },
});

/** Deletes a todo. */
export const deleteTodoCommand = defineCommand({
  name: "deleteTodo",
  description: "Delete a todo",
  input: TodoId,
  deps: { todos: TodoRepositoryPort },
  async handle(ctx, input, { todos }) {
    return await todos.remove(ctx, input.id)
      ? ok(undefined)
      : notFound(input.id);
  },
});
