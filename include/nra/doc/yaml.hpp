// YAML (and therefore JSON) text -> owned nra::Node tree, via libyaml.
// The one place libyaml is used. Errors carry line and column.
#pragma once

#include <string>
#include <string_view>

#include "nra/base/result.hpp"
#include "nra/doc/tree.hpp"

namespace nra {

// Parses the first document of `text`. An empty text is a Null node.
// The error reads like "line 3 column 7: mapping values are not allowed in this context".
Result<Node> parse_yaml(std::string_view text);

}  // namespace nra
