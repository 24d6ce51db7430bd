"""What every tool of one family shares, written once: toolset, object path, ID kind and hint, result.

A family module declares one `Family` and then each tool as one builder call that says only what is
particular to it (description, input model, request, body; name and title where Persona's standard
operations do not give them). The builder fills in the rest the same way for every family:
- the toolset, and the scope from the effect and the toolset's scope family (`read` ->
  `<family>:read`, `write` -> `<family>:write`, destructive -> `<family>:delete`, decisions ->
  `<family>:decide`; docs/access.md);
- the object path (`/accounts/{account_id}`), to which a tool's route is appended;
- the ID hint of descriptions ("IDs: list_accounts."), unless a tool names other sources;
- the changed-object result that write tools return unless they declare their own;
- the operation id (`accounts.add_tag` from `at="POST /add-tag"`, or from `op=`).

What several families share is one builder each, with its input models: `tag_tools` (add, remove, set)
or `tag_tool` (one tool with a `mode`) for objects that carry Persona tags, `relation_tools` for
relations to accounts and transactions, `print_pdf` for Persona's print-outs. One tool that covers
several operations (a typed read, an import per list type) names the argument that chooses the
request (`by=`) and a route per value (`routes=`); `switch` does so for an operation and its opposite
(pause or resume, lock or unlock).

Every builder records the tool it made; a module's `TOOLS` is `<FAMILY>.declared()`, its tools in the
order they are declared (a family derived with `dataclasses.replace` records into the same list).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ObjectKind, id_type, kind_label, with_article
from persona_mcp.pii import FIXED_PATTERN
from persona_mcp.tools.bodies import pick
from persona_mcp.tools.describe import checked, describe, with_ids
from persona_mcp.tools.factories import (
    Body,
    Method,
    cursor_bound,
    object_handler,
    page_handler,
    routed_handler,
)
from persona_mcp.tools.files import PdfResult, pdf_handler
from persona_mcp.tools.inputs import AnyObjectId, ToolInput
from persona_mcp.tools.results import ObjectView, page_of
from persona_mcp.tools.search import search_handler
from persona_mcp.tools.spec import Activity, Effect, ToolContext, ToolSpec
from persona_mcp.tools.tags import OneTag, TagChange, TagSet, one_tag_body, tag_change_handler, tag_set_body
from persona_mcp.toolsets import BY_ID

AnySpec = ToolSpec[Any, Any]

#: Scope suffix of each effect; decisions name theirs (`decide=True`).
_SUFFIX = {Effect.READ: "read", Effect.WRITE: "write", Effect.DESTRUCTIVE: "delete"}


@dataclass(frozen=True, slots=True)
class Family:
    """One family of tools over one kind of Persona object."""

    toolset: str
    kind: ObjectKind
    #: What write tools return: the object after the change (none for a family that only reads).
    changed: type[BaseModel] | None = None
    #: The object's path with its id placeholder; default `/<kinds>/{<kind>_id}`: `/accounts/{account_id}`.
    path: str = ""
    #: Where an agent gets the ids (a sentence end); default: the family's list tool, `list_accounts.`
    ids: str = ""
    #: Prefix of its catalogue operation ids (`accounts` in `accounts.update`); default: the toolset id.
    operations: str = ""
    #: The object as titles say it where that is not the kind's name (`API log`, `import`).
    label: str = ""
    #: What Persona's 409 means for a change of an existing object, unless a tool says otherwise.
    conflict_hint: str | None = None
    #: Every tool the builders made, in declaration order (`declared`). A family derived from this one
    #: with `dataclasses.replace` (another toolset or kind in the same module) adds to the same record.
    made: list[ToolSpec[Any, Any]] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.path:  # frozen: the derived default is set once, here
            object.__setattr__(self, "path", f"/{self.plural_words.replace(' ', '-')}/{{{self.slug}_id}}")

    @property
    def id_field(self) -> str:
        """The argument that names the object (`account_id`), read from the object path."""
        found = re.search(r"\{(\w+)\}", self.path)
        if found is None:
            raise ValueError(f"object path {self.path!r} has no id placeholder")
        return found.group(1)

    @property
    def noun(self) -> str:
        """The object as descriptions say it: `account`, `inquiry session`."""
        return kind_label(self.kind)

    @property
    def a_noun(self) -> str:
        """`an account`, `a webhook`, `an API log`: the object in titles."""
        return with_article(self.label or self.noun)

    @property
    def slug(self) -> str:
        """`account`, `inquiry_session`: the object in tool names."""
        return self.noun.replace(" ", "_")

    @property
    def plural(self) -> str:
        """`accounts`, `inquiry_sessions`, `inquiries`: the objects in list and search tool names."""
        return self.plural_words.replace(" ", "_")

    @property
    def plural_words(self) -> str:
        return _plural(self.noun)

    @property
    def plural_label(self) -> str:
        """`accounts`, `API logs`: the objects in titles."""
        return _plural(self.label or self.noun)

    @property
    def collection(self) -> str:
        """The collection path (`/accounts`): where objects are listed and created."""
        return self.path.rsplit("/", 1)[0]

    def operation(self, op: str) -> str:
        """The catalogue operation id of `op` (`update` -> `accounts.update`)."""
        return f"{self.operations or self.toolset}.{op}"

    def scope(self, effect: Effect, *, decide: bool = False) -> Scope:
        """The scope of a tool of this family with `effect`; decisions have their own."""
        family = BY_ID[self.toolset].scope_family
        return Scope(f"{family}:{'decide' if decide else _SUFFIX[effect]}")

    def described(self, description: str, input_model: type[BaseModel]) -> str:
        """The description as listed: checked, and with the family's "IDs:" line when the tool takes
        this family's object id and the description names no other source."""
        if self.id_field in input_model.model_fields:
            return with_ids(description, self.ids or f"list_{self.plural}.")
        return checked(description)

    def ref(self) -> type[ToolInput]:
        """The input model naming one object and nothing else."""
        return self._with_id(ToolInput, "Ref")

    # -- read tools ----------------------------------------------------------------------------------

    def get(
        self,
        description: str,
        *,
        result: type[ObjectView],
        input_model: type[ToolInput] | None = None,
        op: str = "retrieve",
        by: str | None = None,
        routes: Mapping[Any, str] | None = None,
        ops: tuple[str, ...] = (),
    ) -> AnySpec:
        """`get_<noun>`: GET the object path (Persona's `retrieve`), return it flattened.

        With `by` and `routes` (value -> whole path) the path is chosen by an argument's value (a
        verification's type reads the typed endpoint), and the tool covers `ops`, one per route.
        """
        return self.custom(
            f"get_{self.slug}",
            f"Get {self.a_noun}",
            description,
            effect=Effect.READ,
            ops=ops or (op,),
            input_model=input_model or self.ref(),
            output_model=result,
            handler=_handler(Method.GET, self.path if routes is None else "", result, by=by, routes=routes),
        )

    def list(
        self,
        description: str,
        *,
        input_model: type[ToolInput],
        view: type[ObjectView],
        of: tuple[str, str, str] | None = None,
        op: str | None = None,
    ) -> AnySpec:
        """`list_<nouns>`: one page of the collection, newest first; its `after` cursor is of this kind.

        `of=(name, title, route)` lists something else under the object path instead (an account's
        relations: `("list_account_relations", "List an account's relations", "/relations")`), whose
        operation is `list_<last part of the name>`.
        """
        name, title, route = of or (f"list_{self.plural}", f"List {self.plural_label}", "")
        op = op or (f"list_{name.rsplit('_', 1)[-1]}" if of else "list")
        path = self.path + route if of else self.collection
        return self.read(
            name,
            title,
            description,
            op=op,
            input_model=input_model,
            output_model=page_of(view),
            handler=page_handler(path, page_of(view), view),
            finds=None if of else self.kind,
        )

    def search(self, *, input_model: type[Any], view: type[ObjectView], lags: bool = True) -> AnySpec:
        """`search_<nouns>`: one page of `<collection>/search` (a POST that only reads). Its description
        is the same for every family: search answers what the list tool's filters cannot, and warns
        that the index lags where it does (`lags`)."""
        avoid = "for changes of the last minute: the index lags." if lags else None
        return self.read(
            f"search_{self.plural}",
            f"Search {self.plural_words}",
            describe(
                f"Search {self.plural_words} by conditions on attributes (snake_case).",
                use_when=f"list_{self.plural}' filters are not enough.",
                avoid=avoid,
            ),
            op="search",
            input_model=input_model,
            output_model=page_of(view),
            handler=search_handler(f"{self.collection}/search", page_of(view), view),
            finds=self.kind,
        )

    def read(
        self,
        name: str,
        title: str,
        description: str,
        *,
        op: str,
        input_model: type[Any],
        output_model: type[Any],
        handler: Callable[[ToolContext, Any], Awaitable[Any]],
        finds: ObjectKind | None = None,
        **declared: Any,
    ) -> AnySpec:
        """Any read tool of the family; a list tool's cursor is bound to the kind it `finds`."""
        return self.custom(
            name,
            title,
            description,
            effect=Effect.READ,
            ops=(op,),
            input_model=cursor_bound(input_model, finds),
            output_model=output_model,
            handler=handler,
            finds=finds,
            **declared,
        )

    def print_pdf(self) -> AnySpec:
        """`print_<noun>_pdf`: Persona's print-out saved as an MCP resource of the calling grant; it
        carries personal data that masking cannot reach, so callers also need `pii:read`."""
        return self.read(
            f"print_{self.slug}_pdf",
            f"{self.noun.capitalize()} PDF",
            describe(
                f"Get the {self.noun} PDF (unmasked personal data) as a resource link.",
                use_when="a reviewer needs the document.",
            ),
            op="print_pdf",
            input_model=self.ref(),
            output_model=PdfResult,
            handler=pdf_handler(self.path + "/print", self.id_field, PdfResult),
            unmaskable=True,
        )

    # -- write tools ---------------------------------------------------------------------------------

    def write(self, name: str, title: str, description: str, **particular: Any) -> AnySpec:
        """A change under `<family>:write` (see `action` for the arguments)."""
        return self.action(name, title, description, effect=Effect.WRITE, **particular)

    def delete(self, name: str, title: str, description: str, **particular: Any) -> AnySpec:
        """An irreversible or lifecycle-ending change under `<family>:delete`."""
        return self.action(name, title, description, effect=Effect.DESTRUCTIVE, **particular)

    def decide(
        self,
        name: str,
        title: str,
        description: str,
        *,
        effect: Effect = Effect.DESTRUCTIVE,
        **particular: Any,
    ) -> AnySpec:
        """A decision under `<family>:decide`, never implied by write (a final one is destructive; one
        that can be revised, such as a label, says `effect=Effect.WRITE`)."""
        return self.action(name, title, description, effect=effect, decide=True, **particular)

    def create(
        self,
        description: str,
        *,
        input_model: type[ToolInput],
        body: Body,
        result: type[ObjectView] | None = None,
        conflict_hint: str | None = None,
        title: str = "",
        name: str = "",
        op: str = "create",
        path: str | None = None,
    ) -> AnySpec:
        """`create_<noun>`: POST to the collection (or `path`), making a new object; `name`, `title`
        and `op` where Persona's operation is not plainly `create` (`trigger_workflow`: `create_run`)."""
        return self.write(
            name or f"create_{self.slug}",
            title or f"Create {self.a_noun}",
            description,
            op=op,
            activity=Activity.CREATE,
            input_model=input_model,
            at="POST",
            path=self.collection if path is None else path,
            body=body,
            result=result,
            conflict_hint=conflict_hint,
        )

    def update(
        self,
        description: str,
        *,
        input_model: type[ToolInput],
        body: Body,
        name: str = "",
        title: str = "",
        op: str = "update",
        conflict_hint: str | None = None,
    ) -> AnySpec:
        """`update_<noun>`: PATCH the object with the arguments given (repeatable); `name`, `title` and
        `op` where Persona's operation is not plainly `update`."""
        return self.write(
            name or f"update_{self.slug}",
            title or f"Update {self.a_noun}",
            description,
            op=op,
            input_model=input_model,
            at="PATCH",
            body=body,
            idempotent=True,
            conflict_hint=conflict_hint,
        )

    def redact(self, description: str, *, conflict_hint: str | None = None) -> AnySpec:
        """`redact_<noun>`: Persona's DELETE, which erases personal data for good (`<family>:delete`)."""
        return self.delete(
            f"redact_{self.slug}",
            f"Redact {self.a_noun} (irreversible)",
            description,
            activity=Activity.DELETE,
            op="redact",
            at="DELETE",
            idempotent=True,
            conflict_hint=conflict_hint,
        )

    def archive(self, description: str, *, at: str = "DELETE") -> AnySpec:
        """`archive_<noun>`: the object stops working but stays readable (`<family>:delete`)."""
        return self.delete(
            f"archive_{self.slug}",
            f"Archive {self.a_noun}",
            description,
            activity=Activity.DELETE,
            op="archive",
            at=at,
            idempotent=True,
        )

    def switch(
        self,
        name: str,
        title: str,
        description: str,
        *,
        by: str,
        routes: Mapping[bool, tuple[str, str]],
        **particular: Any,
    ) -> AnySpec:
        """A write covering an operation and its opposite (pause and resume, lock and unlock): a POST to
        the route the boolean argument `by` chooses, `routes` giving each value its (route, operation);
        repeatable, so idempotent."""
        return self.write(
            name,
            title,
            description,
            at="POST",
            by=by,
            routes={value: route for value, (route, _) in routes.items()},
            ops=tuple(op for _, op in routes.values()),
            idempotent=True,
            **particular,
        )

    def expire(self, description: str, *, conflict_hint: str | None = None) -> AnySpec:
        """`expire_<noun>`: the object stops now (its sessions, links) but is kept (`<family>:delete`)."""
        return self.delete(
            f"expire_{self.slug}",
            f"Expire {self.a_noun}",
            description,
            at="POST /expire",
            idempotent=True,
            conflict_hint=conflict_hint,
        )

    def action(
        self,
        name: str,
        title: str,
        description: str,
        *,
        effect: Effect,
        at: str,
        op: str | None = None,
        ops: tuple[str, ...] = (),
        by: str | None = None,
        routes: Mapping[Any, str] | None = None,
        input_model: type[ToolInput] | None = None,
        path: str | None = None,
        body: Body | None = None,
        result: type[ObjectView] | None = None,
        idempotent: bool = False,
        decide: bool = False,
        activity: Activity | None = None,
        conflict_hint: str | None = None,
        sandbox_only: bool = False,
    ) -> AnySpec:
        """One request about one object, returning the object.

        `at` is the request as Persona's reference writes it, relative to the object path: `"PATCH"`
        (the object itself) or `"POST /add-tag"`; `path` replaces the object path (a collection). The
        operation is `op`, or the route's last part (`add_tag`). `input_model` defaults to the object
        reference alone; `result` to the family's changed object.

        One tool may cover several operations (`ops`), the route chosen by the value of the argument
        `by`: `by="paused", routes={True: "/pause", False: "/resume"}`, each route relative to `path`.
        """
        method, _, route = at.partition(" ")
        operation = op or route.rsplit("/", 1)[-1].replace("-", "_")
        if not (operation or ops):
            raise ValueError(f"{name}: name the operation (op=) of a request to the object itself")
        changed = result or self.changed
        if changed is None or not issubclass(changed, ObjectView):
            raise TypeError(f"{name}: a changed-object result must be an ObjectView")
        base = self.path if path is None else path
        if conflict_hint is None and path is None:
            conflict_hint = self.conflict_hint
        return self.custom(
            name,
            title,
            description,
            effect=effect,
            ops=ops or (operation,),
            input_model=input_model or self.ref(),
            output_model=changed,
            handler=_handler(Method(method), base + route, changed, body, by=by, routes=routes),
            idempotent=idempotent,
            decide=decide,
            activity=activity,
            conflict_hint=conflict_hint,
            sandbox_only=sandbox_only,
        )

    def custom(
        self,
        name: str,
        title: str,
        description: str,
        *,
        effect: Effect,
        ops: tuple[str, ...],
        decide: bool = False,
        **declared: Any,
    ) -> AnySpec:
        """Any tool of the family, such as one with a handler of its own covering one or more of the
        family's operations; `declared` holds the rest of the `ToolSpec` (`input_model`, `output_model`,
        `handler`, and `idempotent`, `activity` where the effect does not say). Every builder above ends
        here: the one place a family's spec is made, with its toolset, scope and operation ids, and
        recorded for `declared`."""
        spec: AnySpec = ToolSpec(
            name=name,
            toolset=self.toolset,
            title=title,
            description=self.described(description, declared["input_model"]),
            scope=self.scope(effect, decide=decide),
            effect=effect,
            operations=tuple(self.operation(op) for op in ops),
            **declared,
        )
        self.made.append(spec)
        return spec

    def declared(self) -> tuple[AnySpec, ...]:
        """The family's tools in the order they were declared: what its module lists as `TOOLS`."""
        return tuple(self.made)

    def tag_tools(self) -> tuple[AnySpec, AnySpec, AnySpec]:
        """`add_<noun>_tag`, `remove_<noun>_tag` and `set_<noun>_tags`: Persona's three tag operations."""
        noun, one = self.slug, self.a_noun
        add = self.write(
            f"add_{noun}_tag",
            f"Add a tag to {one}",
            describe(
                f"Add one tag (by name or id) to {one}.",
                use_when=f"labelling {one}.",
                avoid=f"to replace all tags: use set_{noun}_tags.",
            ),
            at="POST /add-tag",
            input_model=self._with_id(OneTag, "Tag"),
            body=one_tag_body,
            idempotent=True,
        )
        remove = self.write(
            f"remove_{noun}_tag",
            f"Remove a tag from {one}",
            describe(
                f"Remove one tag (by name or id) from {one}.",
                use_when="a label no longer applies.",
                avoid=f"to clear all tags: use set_{noun}_tags.",
            ),
            at="POST /remove-tag",
            input_model=add.input_model,
            body=one_tag_body,
            idempotent=True,
        )
        replace_all = self.write(
            f"set_{noun}_tags",
            f"Replace {one}'s tags",
            describe(
                f"Replace all tags of {one}.",
                use_when="you know the full set of tags.",
                avoid="for one tag: unlisted tags are removed.",
            ),
            at="POST /set-tags",
            input_model=self._with_id(TagSet, "Tags"),
            body=tag_set_body,
            idempotent=True,
        )
        return add, remove, replace_all

    def relation_tools(self, example: str, *, add: str, remove: str) -> tuple[AnySpec, AnySpec]:
        """`add_<noun>_relation` and `remove_<noun>_relation`: Persona's relations of an object to an
        account or a transaction under a relation key (`example`: `parent-of`)."""
        model = _relation_model(self.kind, self.id_field, self.label or self.noun, example)
        add_tool, remove_tool = (
            self.write(
                f"{verb}_{self.slug}_relation",
                title,
                description,
                input_model=model,
                at=f"POST /{verb}-relation",
                body=_relation_body,
                idempotent=True,
            )
            for verb, title, description in (
                ("add", f"Relate {self.a_noun} to another object", add),
                ("remove", f"Remove {self.a_noun} relation", remove),
            )
        )
        return add_tool, remove_tool

    def tag_tool(self, *, result: type[ObjectView]) -> AnySpec:
        """`tag_<noun>`: one tool covering Persona's three tag operations, chosen by its `mode`."""
        return self.custom(
            f"tag_{self.slug}",
            f"Tag {self.a_noun}",
            describe(
                f"Add or remove one tag of {self.a_noun}, or set them all.",
                use_when=f"labelling {self.a_noun}.",
            ),
            effect=Effect.WRITE,
            ops=("add_tag", "remove_tag", "set_tags"),
            input_model=self._with_id(TagChange, "TagChange"),
            output_model=result,
            handler=tag_change_handler(self.path, result),
            idempotent=True,
        )

    def _with_id(self, base: type[ToolInput], suffix: str) -> type[ToolInput]:
        return _with_id(base, self.kind, self.id_field, suffix, self.label or self.noun)


@cache
def _relation_model(kind: ObjectKind, id_field: str, label: str, example: str) -> type[ToolInput]:
    """The object, the relation key and the related object (`AccountRelation`)."""
    key = Field(pattern=r"^[a-z0-9_-]{1,64}$", description=f"Relation key, e.g. {example}.")
    fields: dict[str, Any] = {
        id_field: (id_type(kind), Field(description=f"The {label}.")),
        "relation_schema_key": (Annotated[str, FIXED_PATTERN], key),
        "target_object_id": (AnyObjectId, Field(description="Related object (act_/txn_).")),
    }
    name = "".join(part.capitalize() for part in kind_label(kind).split()) + "Relation"
    return create_model(name, __base__=ToolInput, __module__=__name__, **fields)


def _relation_body(args: Any) -> dict[str, Any]:
    return {"meta": pick(args, ("relation_schema_key", "target_object_id"))}


@cache
def _with_id(
    base: type[ToolInput], kind: ObjectKind, id_field: str, suffix: str, label: str
) -> type[ToolInput]:
    """`base` with the object's id argument added (`account_id: AccountId`, described); one model per
    family and shape, shared by the tools that take it."""
    name = "".join(part.capitalize() for part in kind_label(kind).split()) + suffix
    fields: dict[str, Any] = {id_field: (id_type(kind), Field(description=f"The {label}."))}
    return create_model(name, __base__=base, __module__=__name__, **fields)


def _plural(words: str) -> str:
    return f"{words[:-1]}ies" if words.endswith("y") else f"{words}s"


def _handler(
    method: Method,
    template: str,
    result: type[ObjectView],
    body: Body | None = None,
    *,
    by: str | None = None,
    routes: Mapping[Any, str] | None = None,
) -> Callable[[ToolContext, Any], Awaitable[Any]]:
    """One request about one object, or, with `by` and `routes`, the request the argument `by` chooses
    (each route appended to `template`)."""
    if routes is None:
        return object_handler(method, template, result, body)
    if by is None:
        raise ValueError("routes are chosen by an argument: name it (by=)")
    return routed_handler(
        method, by, {value: template + route for value, route in routes.items()}, result, body
    )
