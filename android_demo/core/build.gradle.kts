// The pure-Kotlin core: no android.* imports, so it also builds with Debian's kotlinc 1.3 in CI
// (core/test.sh). Keep it to Kotlin 1.3 language features.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

// Java 17 bytecode from whatever JDK runs Gradle (Android Studio's is 21): no toolchain to
// download or resolve.
java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
    }
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    systemProperty("golden.dir", file("golden").absolutePath)
}
