//! The per-backend test macro, shared by the root package's tests and `stylize`'s.

/// Runs each listed test function (taking a [`style_transfer::Backend`]) once per backend
/// compiled in, as `flex::name`, `ndarray::name` and `wgpu::name`. `backend_tests!(@cpu ...)`
/// runs them on the CPU backends only (for what exists only there, such as the Winograd path);
/// `backend_tests!(@cpu_beside ...)` does the same as `cpu_flex::name` and
/// `cpu_ndarray::name`, beside a file's per-backend tests (for what takes too long on a
/// software Vulkan driver).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(@backend flex, "flex", Flex; $($name),*);
        $crate::backend_tests!(@backend ndarray, "ndarray", Ndarray; $($name),*);
        $crate::backend_tests!(@backend wgpu, "wgpu", Wgpu; $($name),*);
    };
    (@cpu $($name:ident),* $(,)?) => {
        $crate::backend_tests!(@backend flex, "flex", Flex; $($name),*);
        $crate::backend_tests!(@backend ndarray, "ndarray", Ndarray; $($name),*);
    };
    (@cpu_beside $($name:ident),* $(,)?) => {
        $crate::backend_tests!(@backend cpu_flex, "flex", Flex; $($name),*);
        $crate::backend_tests!(@backend cpu_ndarray, "ndarray", Ndarray; $($name),*);
    };
    (@backend $module:ident, $feature:literal, $variant:ident; $($name:ident),*) => {
        #[cfg(feature = $feature)]
        mod $module {
            $(
                #[test]
                fn $name() {
                    super::$name(style_transfer::Backend::$variant);
                }
            )*
        }
    };
}
