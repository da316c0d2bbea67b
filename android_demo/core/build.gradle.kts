// The pure-Kotlin core: no android.* imports, so it also builds with Debian's kotlinc 1.3 in CI
// (core/test.sh). Keep it to Kotlin 1.3 language features.
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    systemProperty("golden.dir", file("golden").absolutePath)
}
