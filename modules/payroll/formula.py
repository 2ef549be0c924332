"""Payroll formulas: a small expression language, parsed and evaluated without eval/exec.

Payroll rules are data that payroll officers edit, so a formula must be checked
when it is saved (with the position of any error) and can never run code.

    BASIC * 11%                              percent literal: 11% is 0.11
    min(BASIC + HOUSING + SOCIAL, 100000) * 0.05
    if(NATIONALITY == "AE", BASIC * 0.15, 0)
    round(BASIC / 30 * DAYS_UNPAID)          half-up to 0.01 (the payroll rounding rule)

Grammar (lowest precedence first):

    expression := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER ["%"] | STRING | NAME | NAME "(" [expression ("," expression)*] ")"
                | "(" expression ")"

Numbers are Decimal; there are no floats. Names are upper-case variables
(component codes and facts such as DAYS_IN_MONTH); functions are lower-case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation
from typing import Any

Value = Decimal | str | bool

MAX_LENGTH = 2000
MAX_DEPTH = 50


class FormulaError(ValueError):
    """A formula cannot be parsed or evaluated; `position` is 0-based in the text."""

    def __init__(self, message: str, position: int) -> None:
        self.message = message
        self.position = position
        super().__init__(f"{message} (at character {position + 1})")


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, end
    text: str
    position: int


_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "(", ")", ",", "%")
_KEYWORDS = {"and", "or", "not"}


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, refusing anything the language does not have."""
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"a formula has at most {MAX_LENGTH} characters", MAX_LENGTH)
    tokens: list[Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
        elif char.isascii() and (
            char.isdigit() or (char == "." and text[index + 1 : index + 2].isdigit())
        ):
            start = index
            while (
                index < len(text)
                and text[index].isascii()
                and (text[index].isdigit() or text[index] == ".")
            ):
                index += 1
            literal = text[start:index]
            if literal.count(".") > 1:
                raise FormulaError(f"malformed number {literal!r}", start)
            tokens.append(Token("number", literal, start))
        elif char == '"':
            start = index
            index += 1
            while index < len(text) and text[index] != '"':
                index += 1
            if index >= len(text):
                raise FormulaError('unterminated text: a closing " is missing', start)
            tokens.append(Token("string", text[start + 1 : index], start))
            index += 1
        elif char.isascii() and (char.isalpha() or char == "_"):
            start = index
            while (
                index < len(text)
                and text[index].isascii()
                and (text[index].isalnum() or text[index] == "_")
            ):
                index += 1
            word = text[start:index]
            tokens.append(Token("op" if word in _KEYWORDS else "name", word, start))
        else:
            for operator in _OPERATORS:
                if text.startswith(operator, index):
                    tokens.append(Token("op", operator, index))
                    index += len(operator)
                    break
            else:
                raise FormulaError(f"unexpected character {char!r}", index)
    tokens.append(Token("end", "", len(text)))
    return tokens


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Node:
    position: int


@dataclass(frozen=True)
class Literal(Node):
    value: Value


@dataclass(frozen=True)
class Variable(Node):
    name: str


@dataclass(frozen=True)
class Unary(Node):
    operator: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    operator: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call(Node):
    function: str
    arguments: tuple[Node, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def accept(self, *texts: str) -> Token | None:
        if self.current.kind == "op" and self.current.text in texts:
            return self.advance()
        return None

    def expect(self, text: str) -> Token:
        token = self.accept(text)
        if token is None:
            found = self.current.text or "the end of the formula"
            raise FormulaError(f"expected {text!r} but found {found!r}", self.current.position)
        return token

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise FormulaError("the formula is empty", 0)
        node = self.expression()
        if self.current.kind != "end":
            raise FormulaError(f"unexpected {self.current.text!r}", self.current.position)
        return node

    def expression(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError("the formula is nested too deeply", self.current.position)
        try:
            return self.disjunction()
        finally:
            self.depth -= 1

    def disjunction(self) -> Node:
        node = self.conjunction()
        while token := self.accept("or"):
            node = Binary(token.position, "or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while token := self.accept("and"):
            node = Binary(token.position, "and", node, self.negation())
        return node

    def negation(self) -> Node:
        if token := self.accept("not"):
            return Unary(token.position, "not", self.negation())
        return self.comparison()

    def comparison(self) -> Node:
        node = self.sum()
        if token := self.accept("==", "!=", "<", "<=", ">", ">="):
            node = Binary(token.position, token.text, node, self.sum())
        return node

    def sum(self) -> Node:
        node = self.product()
        while token := self.accept("+", "-"):
            node = Binary(token.position, token.text, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while token := self.accept("*", "/"):
            node = Binary(token.position, token.text, node, self.unary())
        return node

    def unary(self) -> Node:
        if token := self.accept("-"):
            return Unary(token.position, "-", self.unary())
        return self.primary()

    def primary(self) -> Node:
        token = self.current
        if token.kind == "number":
            self.advance()
            value = Decimal(token.text)
            if self.accept("%"):
                value = value / 100
            return Literal(token.position, value)
        if token.kind == "string":
            self.advance()
            return Literal(token.position, token.text)
        if token.kind == "name":
            self.advance()
            if self.accept("("):
                arguments: list[Node] = []
                if not self.accept(")"):
                    arguments.append(self.expression())
                    while self.accept(","):
                        arguments.append(self.expression())
                    self.expect(")")
                return Call(token.position, token.text, tuple(arguments))
            if token.text in ("true", "false"):
                return Literal(token.position, token.text == "true")
            return Variable(token.position, token.text)
        if self.accept("("):
            node = self.expression()
            self.expect(")")
            return node
        found = token.text or "the end of the formula"
        raise FormulaError(f"expected a number, a name or '(' but found {found!r}", token.position)


# --------------------------------------------------------------------------- functions


def _round_money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Function:
    minimum: int
    maximum: int
    implementation: Callable[..., Value]


FUNCTIONS: dict[str, Function] = {
    "min": Function(1, 20, lambda *values: min(values)),
    "max": Function(1, 20, lambda *values: max(values)),
    "round": Function(1, 1, _round_money),
    "abs": Function(1, 1, abs),
}


# --------------------------------------------------------------------------- compiled formula


@dataclass(frozen=True)
class Formula:
    """A parsed formula: check its names once when saved, evaluate it per employee."""

    text: str
    tree: Node

    @property
    def variables(self) -> set[str]:
        found: set[str] = set()
        _walk(self.tree, lambda node: found.add(node.name) if isinstance(node, Variable) else None)
        return found

    def check_names(self, known_variables: set[str]) -> None:
        """Refuse unknown variables and functions, and wrong argument counts."""

        def check(node: Node) -> None:
            if isinstance(node, Variable) and node.name not in known_variables:
                raise FormulaError(f"unknown name {node.name!r}", node.position)
            if isinstance(node, Call):
                function = FUNCTIONS.get(node.function)
                if function is None and node.function != "if":
                    raise FormulaError(f"unknown function {node.function!r}", node.position)
                count = len(node.arguments)
                low, high = (
                    (3, 3) if node.function == "if" else (function.minimum, function.maximum)
                )
                if not low <= count <= high:
                    expected = str(low) if low == high else f"{low} to {high}"
                    raise FormulaError(
                        f"{node.function}() takes {expected} arguments, not {count}", node.position
                    )

        _walk(self.tree, check)

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        return _evaluate(self.tree, variables)

    def evaluate_amount(self, variables: Mapping[str, Value]) -> Decimal:
        """Evaluate to an amount; a formula that yields text or a truth value is an error."""
        value = self.evaluate(variables)
        if isinstance(value, bool) or not isinstance(value, Decimal):
            raise FormulaError("the formula does not give an amount", 0)
        return value


def parse(text: str, known_variables: set[str] | None = None) -> Formula:
    """Parse `text`; with `known_variables`, also refuse names that do not exist."""
    formula = Formula(text, _Parser(text).parse())
    if known_variables is not None:
        formula.check_names(known_variables)
    return formula


def _walk(node: Node, visit: Callable[[Node], Any]) -> None:
    visit(node)
    if isinstance(node, Unary):
        _walk(node.operand, visit)
    elif isinstance(node, Binary):
        _walk(node.left, visit)
        _walk(node.right, visit)
    elif isinstance(node, Call):
        for argument in node.arguments:
            _walk(argument, visit)


def _number(value: Value, node: Node) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise FormulaError(f"expected an amount, got {value!r}", node.position)
    return value


def _truth(value: Value, node: Node) -> bool:
    if not isinstance(value, bool):
        raise FormulaError(f"expected a condition (true or false), got {value!r}", node.position)
    return value


def _evaluate(node: Node, variables: Mapping[str, Value]) -> Value:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Variable):
        if node.name not in variables:
            raise FormulaError(f"no value for {node.name!r}", node.position)
        value = variables[node.name]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float):
                raise FormulaError(
                    f"{node.name} is a float; payroll values are exact", node.position
                )
            value = Decimal(value)
        return value
    if isinstance(node, Unary):
        operand = _evaluate(node.operand, variables)
        if node.operator == "not":
            return not _truth(operand, node.operand)
        return -_number(operand, node.operand)
    if isinstance(node, Call):
        if node.function == "if":
            condition, when_true, when_false = node.arguments
            chosen = when_true if _truth(_evaluate(condition, variables), condition) else when_false
            return _evaluate(chosen, variables)
        function = FUNCTIONS.get(node.function)
        if function is None:
            raise FormulaError(f"unknown function {node.function!r}", node.position)
        values = [_number(_evaluate(a, variables), a) for a in node.arguments]
        return function.implementation(*values)
    if isinstance(node, Binary):
        if node.operator in ("and", "or"):
            left = _truth(_evaluate(node.left, variables), node.left)
            if node.operator == "and" and not left:
                return False
            if node.operator == "or" and left:
                return True
            return _truth(_evaluate(node.right, variables), node.right)
        left = _evaluate(node.left, variables)
        right = _evaluate(node.right, variables)
        if node.operator in ("==", "!="):
            equal = left == right
            return equal if node.operator == "==" else not equal
        a, b = _number(left, node.left), _number(right, node.right)
        try:
            match node.operator:
                case "+":
                    return a + b
                case "-":
                    return a - b
                case "*":
                    return a * b
                case "/":
                    return a / b
                case "<":
                    return a < b
                case "<=":
                    return a <= b
                case ">":
                    return a > b
                case ">=":
                    return a >= b
        except (DivisionByZero, InvalidOperation) as exc:
            raise FormulaError("division by zero", node.position) from exc
    raise FormulaError("cannot evaluate this part of the formula", node.position)
