include_guard(GLOBAL)

# tenex_module(<name> SOURCES ... DEPS ...): a static library tenex_<name>, alias tenex::<name>.
# Headers are included as "<module>/<file>.hpp" from src/.
function(tenex_module name)
    cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
    add_library(tenex_${name} STATIC ${M_SOURCES})
    add_library(tenex::${name} ALIAS tenex_${name})
    target_include_directories(tenex_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(tenex_${name} PUBLIC ${M_DEPS})
endfunction()

# tenex_test(<name> LABEL <unit|docker|interop|e2e|attack> SOURCES ... DEPS ... [TIMEOUT s]
#            [PROPERTIES <ctest property> <value> ...])
# One GoogleTest executable, its tests registered with CTest under the label.
include(GoogleTest)
function(tenex_test name)
    cmake_parse_arguments(T "" "LABEL;TIMEOUT" "SOURCES;DEPS;PROPERTIES" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 300)
    endif()
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE ${T_DEPS} tenex::test_support GTest::gmock GTest::gtest_main)
    gtest_discover_tests(${name}
        PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} ${T_PROPERTIES}
        DISCOVERY_TIMEOUT 60)
    set_property(GLOBAL APPEND PROPERTY TENEX_TESTS_${T_LABEL} ${name})
endfunction()
