#pragma once
// The Lua half of the test API (see prelude.cpp).
namespace charla::flowtest {
extern const char* const kPrelude;
}
